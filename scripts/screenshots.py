"""Screenshots for the docs: the demo issue's email in Welsh, English and bilingual.

Run from the repository root:

    .venv/bin/python scripts/screenshots.py

It builds the demo issue in a temporary SQLite database (migrate, sync content/, plan as of
2026-09-07T09:00 Europe/London), opens each stored variant in Debian's Chromium
(`apt-get install chromium`; Playwright comes with the dev extra and never downloads a
browser) and writes docs/screenshots/email-{cy,en,both}-{desktop,phone}.png, then serves the
site with the issue sent (tests/web/live.py) and captures, in Welsh: the editors' preview,
the side-by-side view (one Welsh teaser removed first, to show a flagged gap), the issue list
at phone width, the archive, an archived issue, a review page and the issues feed as
Chromium's XML viewer shows it.

It also generates a year of list life (tests/audience/yeardata.py) and captures the report
pages: docs/screenshots/report-year-cy-desktop.png and report-issue-en-desktop.png. Name
sources to capture only those: `scripts/screenshots.py report_screens`.

Each kind of page is one function yielding `Screen`s (see `email_screens`); to capture another
page, write such a function and add it to `SOURCES`.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

if __package__ in (None, ""):  # run as a script: make `tests` (the Chromium setup) importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session, select

from digest import demo
from digest.issue import service
from digest.settings import REPO_ROOT, Settings, generate_secret_key
from digest.store.db import engine_from, session_scope
from digest.store.models import Review
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, REMOTE

if TYPE_CHECKING:
    from playwright.sync_api import Page

OUT_DIR = REPO_ROOT / "docs" / "screenshots"


@dataclass(frozen=True)
class Width:
    """A window width to capture at, and the tallest screenshot worth keeping there."""

    name: str
    px: int
    max_height: int | None


# Desktop: an 800 px window so that the 600 px email shows centred on its background.
WIDTHS = [Width("desktop", 800, None), Width("phone", 375, 2500)]


@dataclass(frozen=True)
class Screen:
    """One page to capture: its file name stem, how to load it, and at which widths."""

    name: str
    load: Callable[[Page], None]
    widths: tuple[Width, ...] = tuple(WIDTHS)


def demo_settings(workdir: Path) -> Settings:
    """Settings for a throwaway demo database under `workdir` (ignores .env), with a key of
    its own for this run."""
    return Settings(_env_file=None,  # type: ignore[call-arg]
                    database_url=f"sqlite:///{workdir / 'digest.db'}", var_dir=workdir / "var",
                    secret_key=SecretStr(generate_secret_key()))


def build_demo_issue(settings: Settings) -> dict[str, str]:
    """Plan the demo issue the way `digest demo` does; its stored HTML by language."""
    engine = engine_from(settings, create=True)
    _, outcome = demo.prepare(engine, settings)
    if outcome.issue is None:
        raise SystemExit(f"no demo issue: {outcome.message}")
    with session_scope(engine) as session:
        html = {lang.value: v.html for lang, v in service.variants(session, outcome.issue).items()}
    engine.dispose()
    return html


def _set_content(html: str) -> Callable[[Page], None]:
    """A loader that puts `html` into the page."""
    def load(page: Page) -> None:
        page.set_content(html, wait_until="load")
    return load


def email_screens(workdir: Path) -> Iterator[Screen]:
    """The email as stored for each variant: email-cy, email-en, email-both."""
    html = build_demo_issue(demo_settings(workdir))
    for lang in ("cy", "en", "both"):
        yield Screen(f"email-{lang}", _set_content(html[lang]))


def remove_a_welsh_teaser(session: Session) -> None:
    """Blank one review's Welsh teaser after planning, so that the side-by-side view has a
    gap to flag (the email, rendered before, is unchanged)."""
    review = session.exec(select(Review).where(
        Review.slug == "child-protection-covid-19-home-visits")).one()
    review.teaser_cy = None


def site_screens(workdir: Path) -> Iterator[Screen]:
    """The site with the demo issue sent: editors' pages (logged in) and subscribers' pages."""
    from tests.web.live import EDITOR, PASSWORD, live_site

    with live_site(workdir, change=remove_a_welsh_teaser) as site:
        base = site.url
        logged_in = False

        def editor(path: str, ready: str) -> Callable[[Page], None]:
            def load(page: Page) -> None:
                nonlocal logged_in
                if not logged_in:
                    page.goto(f"{base}/editor/login?lang=cy")
                    page.fill("#name", EDITOR)
                    page.fill("#password", PASSWORD)
                    page.click("form button[type=submit]")
                    page.wait_for_url("**/editor")
                    logged_in = True
                page.goto(base + path)
                page.locator(ready).first.wait_for()
            return load

        def public(path: str) -> Callable[[Page], None]:
            def load(page: Page) -> None:
                page.goto(base + path)
            return load

        def feed(path: str) -> Callable[[Page], None]:
            def load(page: Page) -> None:
                # Served as XML so that Chromium shows its tree instead of downloading it.
                page.route(base + path, lambda route: route.fulfill(
                    response=route.fetch(), headers={"content-type": "text/xml"}))
                page.goto(base + path)
            return load

        issue = f"/editor/issues/{site.issue_id}"
        yield Screen("editor-preview-cy", editor(f"{issue}?variant=cy&lang=cy", "#phone"),
                     (Width("desktop", 1320, 1200),))
        yield Screen("editor-side-by-side-cy", editor(f"{issue}/side-by-side?lang=cy", "h1"),
                     (Width("desktop", 1320, 1400),))
        yield Screen("editor-issues-cy", editor("/editor?lang=cy", "h1"),
                     (Width("phone", 375, 900),))
        yield Screen("archive-cy", public("/archive?lang=cy"),
                     (Width("desktop", 1280, 900), Width("phone", 375, 1200)))
        yield Screen("archive-issue-cy", public("/archive/2026-09/cy"),
                     (Width("phone", 375, 1400),))
        yield Screen("review-cy", public("/reviews/adoption-sibling-relationships?lang=cy"),
                     (Width("phone", 375, 1600),))
        yield Screen("feed-issues-cy", feed("/feeds/cy/issues.atom"),
                     (Width("desktop", 1000, 1000),))


def _serve(settings: Settings) -> tuple[str, Callable[[], None]]:
    """The app on a free loopback port; its base URL and a function that stops it."""
    import socket
    import threading
    import time

    import uvicorn

    from digest.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(update={"site_url": base})  # the app answers only its host
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join()

    return base, stop


def report_screens(workdir: Path) -> Iterator[Screen]:
    """The yearly report (Welsh) and an issue report (English) on a generated year of data."""
    from digest.store.db import make_engine, upgrade
    from digest.web.auth import hash_password
    from tests.audience.yeardata import generate_year

    settings = demo_settings(workdir).model_copy(update={
        "editor_accounts": f"editor:{hash_password('screens')}", "click_counts": True})
    engine = make_engine(settings.database_url)
    upgrade(engine)
    generate_year(engine, settings, workdir)
    engine.dispose()
    base, stop = _serve(settings)

    def load(path: str) -> Callable[[Page], None]:
        def go(page: Page) -> None:
            page.goto(f"{base}/editor/login")
            page.fill("#name", "editor")
            page.fill("#password", "screens")
            page.click("button[type=submit]")
            page.goto(f"{base}{path}")
        return go

    try:
        yield Screen("report-year-cy", load("/editor/reports/years/2026?lang=cy"),
                     (Width("desktop", 1320, None),))
        yield Screen("report-issue-en", load("/editor/reports/issues/2026-09?lang=en"),
                     (Width("desktop", 1320, None),))
    finally:
        stop()


# Each source gets its own temporary directory and may set up (and, after its last yield,
# tear down) whatever its pages need.
SOURCES: list[Callable[[Path], Iterator[Screen]]] = [email_screens, site_screens,
                                                     report_screens]


def capture(page: Page, screen: Screen, width: Width, out_dir: Path) -> Path:
    """Load `screen` at `width` and write a full-page PNG (cut at width.max_height)."""
    page.set_viewport_size({"width": width.px, "height": 800})
    screen.load(page)
    path = out_dir / f"{screen.name}-{width.name}.png"
    height = int(page.evaluate("document.scrollingElement.scrollHeight"))
    if width.max_height is not None and height > width.max_height:
        page.screenshot(path=str(path), full_page=True,
                        clip={"x": 0, "y": 0, "width": width.px, "height": width.max_height})
    else:
        page.screenshot(path=str(path), full_page=True)
    return path


def main() -> int:
    """Write every screen of every source at every width into docs/screenshots/ (or only the
    sources named on the command line, e.g. `report_screens`)."""
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} not found: apt-get install chromium", file=sys.stderr)
        return 1
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("playwright missing: python3 dev.py test (or pip install -e '.[dev]')",
              file=sys.stderr)
        return 1
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        context = browser.new_context(device_scale_factor=1)
        context.route(REMOTE, lambda route: route.abort())
        page = context.new_page()
        wanted = set(sys.argv[1:])
        for source in [s for s in SOURCES if not wanted or s.__name__ in wanted]:
            with tempfile.TemporaryDirectory(prefix="digest-screens-") as tmp:
                for screen in source(Path(tmp)):
                    for width in screen.widths:
                        path = capture(page, screen, width, OUT_DIR)
                        print(f"{path.relative_to(REPO_ROOT)}  ({path.stat().st_size // 1024} KB)")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
