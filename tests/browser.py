"""Browser fixtures: Debian's Chromium (/usr/bin/chromium) driven by Playwright.

Registered as a plugin: `pytest_plugins = ["tests.browser"]` in conftest.py (or `-p tests.browser`).
Playwright never downloads a browser here: it launches the system Chromium, with every request
off the machine aborted (loopback is allowed, for a local test server). Without Chromium or the
playwright package the tests are skipped with a reason (failed under DIGEST_TEST_STRICT=1, CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, REMOTE
from tests.conftest import skip_or_fail

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
DEFAULT_VIEWPORT: ViewportSize = {"width": 600, "height": 800}


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    """One headless Chromium for the session (fresh profile), or skip/fail saying how to get it."""
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} not found; install Debian's browser with "
                     "`apt-get install chromium` (.ci/run does this in CI)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is missing; `python3 dev.py test` installs it "
                     "(dev extra; never run `playwright install`, it uses /usr/bin/chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium_browser: Browser) -> Iterator[Page]:
    """A page in its own context (600x800, scale 1, loopback only); closed after the test."""
    context = chromium_browser.new_context(viewport=DEFAULT_VIEWPORT, device_scale_factor=1)
    context.route(REMOTE, lambda route: route.abort())
    page = context.new_page()
    yield page
    context.close()


def save_screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Write a PNG of the page to test-artifacts/<name>.png and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
