"""Every public and editor page in Chromium, in Welsh and English, at 375 and 1280 px: no
sideways scroll, and no axe-core violation (WCAG 2.x A and AA, and the best practices).

The site is the demo with its issue sent (tests/web/live.py); the emails themselves are
tested in tests/render/test_email_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.axe import add_css, axe_violations, horizontal_overflow
from tests.chromium import REMOTE
from tests.web.live import EDITOR, LONG_WORD, PASSWORD, LiveSite, live_site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

# An archived email is served under the sandboxed email CSP (tests/web/test_headers.py checks
# that header): a sandboxed document runs no timer or promise callback, so axe-core would wait
# forever. The browser tests see its CSP without the sandbox directive, nothing else changed.
ARCHIVED_EMAIL = re.compile(r"/archive/[^/?]+/[^/?]+(\?.*)?$")
# Archived emails that came without `sandbox` in their CSP. The handler only notes them: an
# exception inside a route handler leaves the request hanging, and the test fails by timeout.
UNSANDBOXED: list[str] = []


def without_sandbox(route: Route) -> None:
    """Fetch the page, then hand it on with `sandbox ...;` dropped from its CSP."""
    response = route.fetch()
    headers = dict(response.headers)
    csp = headers.get("content-security-policy", "")
    if "sandbox" not in csp:
        UNSANDBOXED.append(route.request.url)
    headers["content-security-policy"] = re.sub(r"\s*sandbox[^;]*;?", "", csp)
    route.fulfill(response=response, headers=headers)


@pytest.fixture(autouse=True)
def archived_emails_sandboxed() -> Iterator[None]:
    """Every archived email a test loaded was sandboxed by its CSP."""
    UNSANDBOXED.clear()
    yield
    assert not UNSANDBOXED, f"an archived email should be sandboxed by its CSP: {UNSANDBOXED}"

WIDTHS = [375, 1280]
LANGS = ["cy", "en"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    with live_site(tmp_path_factory.mktemp("live")) as running:
        yield running


def _tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(device_scale_factor=1)
    context.route(REMOTE, lambda route: route.abort())
    context.route(ARCHIVED_EMAIL, without_sandbox)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def visitor(chromium_browser: Browser) -> Iterator[Page]:
    """One tab for the public pages (a visitor's cookies: just the language)."""
    yield from _tab(chromium_browser)


@pytest.fixture(scope="module")
def editor_tab(chromium_browser: Browser, site: LiveSite) -> Iterator[Page]:
    """One tab, logged in as an editor, for the editors' pages."""
    for page in _tab(chromium_browser):
        page.goto(f"{site.url}/editor/login")
        page.fill("#name", EDITOR)
        page.fill("#password", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_url("**/editor")
        yield page


def submit_bad_signup(page: Page) -> None:
    page.fill("#email", "not an address")
    page.fill("#name", "Siân")
    page.evaluate("document.querySelector('#email').type = 'text'")  # past the browser's check
    page.click("form button[type=submit]")
    page.locator("#email-error").wait_for()
    # The answer's HTML is there; its stylesheet may not be yet (a slow machine): axe must see
    # the styled page, not an unstyled one whose links sit closer than 24 px.
    page.wait_for_load_state("load")


def submit_signup(page: Page) -> None:
    page.fill("#email", "newcomer@example.org")
    page.click("form button[type=submit]")
    page.wait_for_load_state("load")


# name -> (path, what to do once it has loaded); the path may use the site's tokens
PUBLIC: dict[str, tuple[Callable[[LiveSite], str], Callable[[Page], None] | None]] = {
    "subscribe": (lambda s: "/subscribe", None),
    "subscribe-error": (lambda s: "/subscribe", submit_bad_signup),
    "subscribe-done": (lambda s: "/subscribe", submit_signup),
    "archive": (lambda s: "/archive", None),
    "archive-issue-cy": (lambda s: "/archive/2026-09/cy", None),
    "archive-issue-en": (lambda s: "/archive/2026-09/en", None),
    "archive-issue-both": (lambda s: "/archive/2026-09/both", None),
    "review": (lambda s: "/reviews/adoption-sibling-relationships", None),
    "preferences": (lambda s: s.preferences, None),
    "unsubscribe": (lambda s: s.unsubscribe, None),
    "bad-link": (lambda s: "/confirm/not-a-token", None),
    "not-found": (lambda s: "/no/such/page", None),
}
EDITORS: dict[str, Callable[[LiveSite], str]] = {
    "issues": lambda s: "/editor",
    "issue-cy": lambda s: f"/editor/issues/{s.issue_id}?variant=cy",
    "issue-en": lambda s: f"/editor/issues/{s.issue_id}?variant=en",
    "issue-both": lambda s: f"/editor/issues/{s.issue_id}?variant=both",
    "side-by-side": lambda s: f"/editor/issues/{s.issue_id}/side-by-side",
}


def check(page: Page, width: int, name: str) -> None:
    """The assertions every page gets: fits the width, passes axe."""
    assert horizontal_overflow(page) == 0, f"{name}: wider than {width} px"
    assert axe_violations(page) == [], name


def with_lang(path: str, lang: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={lang}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(PUBLIC))
def test_public_page(visitor: Page, site: LiveSite, name: str, lang: str,
                     width: int) -> None:
    path, then = PUBLIC[name]
    page = visitor
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(site.url + with_lang(path(site), lang))
    if then is not None:
        then(page)
    expected = lang
    if name.startswith("archive-issue-"):  # the email's language; the frame's is the page's
        expected = {"cy": "cy", "en": "en", "both": "cy"}[name.removeprefix("archive-issue-")]
        frame = "header.digest-site"
        assert page.evaluate(f"document.querySelector('{frame}').lang") == (
            lang if name.endswith("both") else expected)
    assert page.evaluate("document.documentElement.lang") == expected
    assert page.locator("h1").count() == 1
    check(page, width, f"{name}-{lang}")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", ["login", *EDITORS])
def test_editor_page(visitor: Page, editor_tab: Page, site: LiveSite, name: str, lang: str,
                     width: int) -> None:
    page = visitor if name == "login" else editor_tab
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(site.url + with_lang("/editor/login" if name == "login" else EDITORS[name](site),
                                   lang))
    assert page.evaluate("document.documentElement.lang") == lang
    check(page, width, f"editor-{name}-{lang}")


def test_a_long_welsh_word_wraps_on_a_phone(browser_page: Page, site: LiveSite) -> None:
    """The review's h1 holds a 58-letter word: it breaks rather than push the page wide."""
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 900})
    page.goto(f"{site.url}/reviews/adoption-sibling-relationships?lang=cy")
    assert LONG_WORD in page.inner_text("h1")
    assert page.evaluate("document.querySelector('h1').scrollWidth") <= page.evaluate(
        "document.querySelector('h1').clientWidth")
    assert horizontal_overflow(page) == 0
    add_css(page, "h1 { overflow-wrap: normal !important; }")  # the control
    assert horizontal_overflow(page) > 0


def test_the_checks_catch_a_page_that_scrolls_sideways(browser_page: Page,
                                                       site: LiveSite) -> None:
    """A control for `check`: a page made too wide, and an image without alt text."""
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 900})
    page.goto(f"{site.url}/subscribe")
    page.evaluate("""() => { const d = document.createElement('div');
        d.style.width = '500px'; d.textContent = 'wide';
        document.querySelector('main').append(d);
        document.querySelector('main').append(document.createElement('img')); }""")
    assert horizontal_overflow(page) > 0
    assert "image-alt" in {v["id"] for v in axe_violations(page)}


def test_the_issue_page_frames_keep_their_layout_width_when_scaled(
        browser_page: Page, site: LiveSite) -> None:
    """At 375 px the previews are drawn smaller, but each email is still laid out at 640 and
    375 px, as a desktop and a phone show it."""
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 900})
    page.goto(f"{site.url}/editor/login?lang=en")
    page.fill("#name", EDITOR)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.goto(f"{site.url}/editor/issues/{site.issue_id}?variant=cy")
    page.frame_locator("#phone").locator("h1").wait_for()
    page.frame_locator("#desktop").locator("h1").wait_for()
    sizes = {}
    for frame in page.main_frame.child_frames:  # measured from within: works sandboxed too
        element = frame.frame_element()
        box = element.bounding_box()
        assert box is not None
        sizes[element.get_attribute("id")] = (element.evaluate("f => f.clientWidth"),
                                              round(box["width"]),
                                              frame.evaluate("document.scrollingElement"
                                                             ".scrollWidth"))
    assert {k: v[:2] for k, v in sizes.items()} == {"desktop": (640, 288), "phone": (375, 300)}
    assert all(content <= layout for layout, _, content in sizes.values()), sizes


# An inline box has one client rect per line it is on; a heading's text, one per line.
LINES = """() => [
  ...[...document.querySelectorAll('table.issues td a, table.issues span.nowrap')]
    .map(e => [e.textContent.trim(), e.getClientRects().length]),
  ...[...document.querySelectorAll('table.issues th.nowrap')].map(e => {
      const range = document.createRange(); range.selectNodeContents(e.firstChild);
      return [e.textContent.trim(), range.getClientRects().length]; })]"""
# Every column as narrow as its content allows: where a table under pressure would break.
SQUEEZE = ("table.issues { width: auto !important; } "
           "table.issues td, table.issues th { width: 1px; }")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGS)
def test_the_issue_list_wraps_nothing_into_pieces(editor_tab: Page, site: LiveSite,
                                                  lang: str, width: int) -> None:
    """The period, the send time's date and its time, and the "Send after" heading each stay
    on one line, even with every column squeezed (on a phone each issue is a block; other
    headings may wrap)."""
    page = editor_tab
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{site.url}/editor?lang={lang}")
    lines = page.evaluate(LINES)
    texts = [text for text, _ in lines]
    assert "2026-09" in texts and ("Anfon ar ôl" if lang == "cy" else "Send after") in texts
    assert [(t, n) for t, n in lines if n != 1] == []
    add_css(page, SQUEEZE)
    assert [(t, n) for t, n in page.evaluate(LINES) if n != 1] == []
    if width > 600:  # the control: without the rule, a squeezed table breaks them
        add_css(page, ".nowrap { white-space: normal !important; }")
        broken = dict(page.evaluate(LINES))
        assert broken["2026-09"] > 1 and broken["Anfon ar ôl" if lang == "cy" else
                                               "Send after"] > 1


@pytest.mark.parametrize("path", ["/subscribe", "/archive",
                                  "/reviews/care-leavers-work-and-resilience"])
def test_the_card_keeps_a_margin_on_a_phone(visitor: Page, site: LiveSite, path: str) -> None:
    page = visitor
    page.set_viewport_size({"width": 375, "height": 900})
    page.goto(f"{site.url}{path}?lang=cy")
    left, right = page.evaluate("[document.querySelector('main').getBoundingClientRect().left,"
                                " document.querySelector('main').getBoundingClientRect().right]")
    assert left >= 8 and right <= 375 - 8
