"""The editors' and subscribers' flows in a real browser against a real `digest serve`.

Debian's Chromium driven by Playwright; mail goes through a real SMTP server on loopback.
Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from digest import demo
from digest.issue import service
from digest.settings import REPO_ROOT, Settings
from digest.store.db import make_engine
from digest.store.models import Issue, Language, Subscriber, SubscriberState
from digest.web.auth import hash_password
from tests.browser import save_screenshot
from tests.conftest import process_env
from tests.factories import AS_OF
from tests.smtp_server import SMTPServer, free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD = "correct horse battery staple"


@dataclass
class Served:
    """A running `digest serve` and what it works on."""

    url: str
    settings: Settings
    smtp: SMTPServer


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "digest serve exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("digest serve did not start")


@pytest.fixture
def served(settings: Settings, smtp_server: SMTPServer, tmp_path: Path) -> Iterator[Served]:
    """The demo data planned for September 2026, served on loopback."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(update={"site_url": url})
    engine = make_engine(settings.database_url)
    demo.prepare(engine, settings, AS_OF)
    engine.dispose()
    env = process_env({
        "DIGEST_DATABASE_URL": settings.database_url, "DIGEST_SITE_URL": url,
        "DIGEST_SECRET_KEY": "test-secret", "DIGEST_VAR_DIR": str(tmp_path / "var"),
        "DIGEST_TRANSPORT": "smtp", "DIGEST_SMTP_HOST": smtp_server.host,
        "DIGEST_SMTP_PORT": str(smtp_server.port),
        "DIGEST_EDITOR_ACCOUNTS": f"sian:{hash_password(PASSWORD)}",
        "PYTHONPATH": str(REPO_ROOT),  # this checkout's code, whichever one the venv installed
    })
    proc = subprocess.Popen([sys.executable, "-m", "digest.cli", "serve", "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield Served(url, settings, smtp_server)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def received_by(server: SMTPServer, address: str) -> EmailMessage:
    for got in server.received:
        if got.rcpt == address:
            msg = message_from_bytes(got.data, policy=default)
            assert isinstance(msg, EmailMessage)
            return msg
    raise AssertionError(f"nothing received by {address}")


def test_editor_previews_in_welsh_at_phone_width_tests_and_approves(
        served: Served, browser_page: Page) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(f"{served.url}/editor?lang=en")  # the editor works in English here
    assert page.url.endswith("/editor/login")
    page.fill("#name", "sian")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=2026-09")
    page.click(".tabs a:has-text('Cymraeg')")  # the email's tab, not the page's language
    phone = page.frame_locator("#phone")
    phone.locator("text=Adolygiadau ymchwil newydd").first.wait_for()
    frame = page.frame(url=lambda u: u.endswith("/email/cy"))
    assert frame is not None
    assert frame.evaluate("document.documentElement.lang") == "cy"
    widths = page.evaluate("""() => [...document.querySelectorAll('iframe')].map(f =>
        [f.id, f.clientWidth, f.contentDocument.scrollingElement.scrollWidth])""")
    for frame_id, visible, content_width in widths:
        assert content_width <= visible + 1, (frame_id, visible, content_width)
    assert dict((w[0], w[1]) for w in widths)["phone"] <= 375
    save_screenshot(page, "editor-preview-cy", full_page=False)

    page.fill("#address", "sian@example.org")
    page.click("button:has-text('Send test')")
    page.locator("text=Test sent to sian@example.org").wait_for()
    test = received_by(served.smtp, "sian@example.org")
    assert test["Subject"].startswith("[PRAWF / TEST] Crynodeb Ymchwil")

    page.click("button:has-text('Approve')")
    page.locator("text=Approved by sian").wait_for()
    assert "(approved)" in page.inner_text("h1")
    assert "sian: approved" in page.inner_text("#history")
    save_screenshot(page, "editor-approved")


def test_reader_follows_a_review_title_from_the_email_and_switches_language(
        served: Served, browser_page: Page) -> None:
    engine = make_engine(served.settings.database_url)
    with Session(engine) as session:
        html = service.variants(session, session.exec(select(Issue)).one())[Language.CY].html
    engine.dispose()
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 800})
    page.set_content(html)  # the Welsh email as a mail client shows it
    link = page.locator(f'a[href^="{served.url}/reviews/"]').first
    title = link.inner_text()
    link.click()
    page.wait_for_url("**/reviews/*")
    assert page.evaluate("document.documentElement.lang") == "cy"
    assert page.inner_text("h1") == title
    assert page.inner_text("article h2 >> nth=0") == (
        "Ar ba gwestiwn y mae'r astudiaeth hon yn canolbwyntio?")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    save_screenshot(page, "review-page-cy")
    page.click("nav.langs a[hreflang=en]")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.inner_text("article h2 >> nth=0") == "What question does this study focus on?"
    assert page.inner_text("h1") != title


def send_issue(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/editor/login?lang=en")
    page.fill("#name", "sian")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=2026-09")
    page.click("button:has-text('Approve')")
    page.click("button:has-text('Start sending now')")
    deadline = time.monotonic() + 60
    while len(served.smtp.received) < 35:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_subscriber_switches_to_welsh_then_unsubscribes(served: Served,
                                                        browser_page: Page) -> None:
    page = browser_page
    send_issue(page, served)
    message = received_by(served.smtp, "rhys.price@example.org")  # Rhys reads English
    text = next(p for p in message.iter_parts() if p.get_content_type() == "text/plain")
    prefs = next(line for line in text.get_content().splitlines() if "/p/" in line).strip()
    assert prefs.startswith(served.url)

    page.context.clear_cookies()  # a subscriber, not the editor
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(prefs)
    assert page.evaluate("document.documentElement.lang") == "en"
    page.check("input[name=language][value=cy]")
    page.click("button[value=language]")
    page.locator("text=Mae eich dewis iaith wedi'i gadw").wait_for()
    assert page.evaluate("document.documentElement.lang") == "cy"
    save_screenshot(page, "subscriber-preferences-cy")

    unsubscribe_url = message["List-Unsubscribe"].strip("<>")
    page.goto(unsubscribe_url)  # the email's link: a page with one button
    page.click("button:has-text('Dad-danysgrifio')")
    page.locator("text=Rydych chi wedi dad-danysgrifio").wait_for()
    save_screenshot(page, "subscriber-unsubscribed")

    engine = make_engine(served.settings.database_url)
    with Session(engine) as session:
        rhys = session.exec(select(Subscriber).where(
            Subscriber.email == "rhys.price@example.org")).one()
        assert rhys.language is Language.CY and rhys.state is SubscriberState.UNSUBSCRIBED
    engine.dispose()
