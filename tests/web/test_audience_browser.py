"""The audience's pages in a real browser (Debian's Chromium) against a real `digest serve`:
an editor finds a subscriber, changes their language and erases them; the report pages draw
their charts without JavaScript; a subscriber downloads and erases their own data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from digest import demo
from digest.audience import history
from digest.delivery import run
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import lifecycle
from digest.settings import Settings
from digest.store.db import make_engine
from digest.store.models import Issue, Language, Subscriber, SubscriberState
from digest.tokens import Purpose, Tokens
from digest.web.auth import hash_password
from tests.browser import save_screenshot
from tests.factories import AS_OF
from tests.smtp_server import free_port
from tests.web.serve import digest_serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PASSWORD = "correct horse battery staple"


@dataclass
class Served:
    """A running `digest serve` on the demo data, its September issue sent."""

    url: str
    settings: Settings


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[Served]:
    """The demo issue planned, approved and sent (in memory), then served on loopback."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(update={"site_url": url})
    engine = make_engine(settings.database_url)
    demo.prepare(engine, settings, AS_OF)
    with Session(engine) as session:
        issue = session.exec(select(Issue)).one()
        lifecycle.approve(session, issue, "sian")
        issue_id = issue.id or 0
        session.commit()
    transport = MemoryTransport()
    run.send_issue(engine, settings, issue_id, lambda: transport)
    engine.dispose()
    with digest_serve(settings.database_url, tmp_path, port=port,
                      env={"DIGEST_EDITOR_ACCOUNTS": f"sian:{hash_password(PASSWORD)}"}):
        yield Served(url, settings)


def _login(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/editor/subscribers?lang=en")
    assert page.url.endswith("/editor/login")
    page.fill("#name", "sian")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_editor_finds_changes_and_erases_a_subscriber(served: Served,
                                                      browser_page: Page) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    _login(page, served)
    page.goto(f"{served.url}/editor/subscribers?lang=en")
    assert "35 subscribers" in page.inner_text("#matching")
    page.fill("#q", "Eleri")
    page.click("button:has-text('Search')")
    rows = page.locator("#subscribers tbody tr")
    assert rows.count() == 1
    save_screenshot(page, "editor-subscribers")
    page.click("#subscribers a")
    assert page.inner_text("#address") == "eleri.thomas@example.org"
    page.select_option("#new-language", "both")
    page.click("button:has-text('Change language')")
    page.locator("text=Language changed.").wait_for()
    assert "sian" in page.inner_text("#history")
    page.click("nav.langs a[hreflang=cy]")  # the same page in Welsh
    page.wait_for_function("document.documentElement.lang === 'cy'")
    assert "Hanes" in page.inner_text("main")
    page.fill("#confirm", "eleri.thomas@example.org")
    page.click("button:has-text('Dileu')")
    page.locator("text=Wedi’i ddileu.").wait_for()
    assert "eleri.thomas" not in page.inner_text("main")
    save_screenshot(page, "editor-subscriber-erased")
    engine = make_engine(served.settings.database_url)
    with Session(engine) as session:
        assert session.exec(select(Subscriber).where(
            Subscriber.email == "eleri.thomas@example.org")).first() is None
        erased = session.exec(select(Subscriber).where(
            Subscriber.state == SubscriberState.ERASED)).one()
        assert [e.actor for e in history.events_of(session, erased.id or 0)][-2:] == [
            "sian", "sian"]
    engine.dispose()


def test_report_charts_draw_without_javascript(served: Served,
                                               chromium_browser: Browser) -> None:
    context = chromium_browser.new_context(java_script_enabled=False,
                                           viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        _login(page, served)
        for path, charts in (("/editor/reports/years/2026?lang=en", 4),
                             ("/editor/reports/issues/2026-09?lang=cy", 1)):
            page.goto(served.url + path)
            svgs = page.locator("svg.chart")
            assert svgs.count() == charts
            box = svgs.first.bounding_box()
            assert box is not None and box["width"] > 600 and box["height"] > 150
            bars = page.locator("svg.chart rect[height]")
            assert bars.count() > 3
        assert page.evaluate("document.documentElement.lang") == "cy"
    finally:
        context.close()


def test_a_subscriber_downloads_then_erases_their_data(served: Served,
                                                       browser_page: Page) -> None:
    page = browser_page
    engine = make_engine(served.settings.database_url)
    with Session(engine) as session:
        rhys = session.exec(select(Subscriber).where(
            Subscriber.email == "rhys.price@example.org")).one()
    engine.dispose()
    prefs = Tokens(served.settings).make(Purpose.PREFERENCES, rhys.id or 0)
    page.goto(f"{served.url}/p/{prefs}")
    assert rhys.language is Language.EN and page.evaluate("document.documentElement.lang") == "en"
    page.click("text=Your data: see everything")
    with page.expect_download() as download:
        page.click("button:has-text('Download everything')")
    data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert data["subscriber"]["email"] == "rhys.price@example.org"
    assert [d["issue"] for d in data["deliveries"]] == ["2026-09"]
    page.click("button:has-text('Erase my data')")
    page.locator("text=This cannot be undone").wait_for()
    page.click("button:has-text('Yes, erase my data')")
    page.locator("text=Your data has been erased").wait_for()
    save_screenshot(page, "subscriber-erased")
    page.goto(f"{served.url}/p/{prefs}")
    assert "rhys" not in page.content()
