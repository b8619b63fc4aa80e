"""The demo issue's email in a real browser (Chromium): layout at 600 and 375 px, languages,
block order, headings, links and images, measured in the rendered page, and axe-core's WCAG
A/AA and best-practice rules. Screenshots go to test-artifacts/.

Needs the `browser_page` fixture from tests/browser.py (registered in conftest.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from digest import demo
from digest.issue import service
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.settings import Settings
from digest.store.db import engine_from, session_scope
from digest.tokens import Purpose, Tokens
from tests.axe import axe_violations
from tests.browser import save_screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page

DESKTOP, PHONE = 600, 375
HTML_LANG = {"cy": "cy", "en": "en", "both": "cy"}
HEADINGS = {"cy": "Adolygiadau ymchwil newydd", "en": "New research reviews"}
SUBSCRIBER_ID = 7

# Widths of the email's sections (the direct <div>s of the MJML wrapper) and of every MJML
# column, with the inner width of the row that holds it.
MEASURE_LAYOUT = """() => {
  const root = document.querySelector('[role="article"]');
  const sections = [...root.children].filter(e => e.tagName === 'DIV')
      .map(e => e.getBoundingClientRect().width);
  const columns = [...document.querySelectorAll('[class*="mj-column-per-"]')].map(c => {
    const td = c.parentElement.closest('td');
    const cs = getComputedStyle(td);
    const inner = td.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    const pct = Number(c.className.match(/mj-column-per-(\\d+)/)[1]);
    return {pct, width: c.getBoundingClientRect().width, row: inner};
  });
  return {scrollWidth: document.scrollingElement.scrollWidth, sections, columns,
          lang: document.documentElement.lang};
}"""

MEASURE_HEADINGS = """(texts) => texts.map(text => [...document.querySelectorAll('h2')]
  .filter(d => d.textContent.trim() === text)
  .map(d => ({y: d.getBoundingClientRect().y, lang: d.closest('[lang]').lang,
              visible: d.getBoundingClientRect().height > 0})))"""

# The outline a screen reader lists: level, text and language of every heading, in order.
OUTLINE = """() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => ({
  level: Number(h.tagName[1]), text: h.textContent.trim(), lang: h.closest('[lang]').lang,
  size: parseFloat(getComputedStyle(h).fontSize)}))"""

MEASURE_LINKS = """() => ({
  hrefs: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  images: document.images.length,
  imagesWithoutAlt: [...document.images].filter(i => !i.hasAttribute('alt'))
      .map(i => i.outerHTML),
})"""


@pytest.fixture
def demo_html(settings: Settings) -> dict[str, str]:
    """The demo issue's stored variants (language -> HTML), built the way `digest demo` does."""
    engine = engine_from(settings, create=True)  # as the demo makes its database
    _, outcome = demo.prepare(engine, settings)
    assert outcome.issue is not None, outcome.message
    with session_scope(engine) as session:
        html = {lang.value: v.html for lang, v in service.variants(session, outcome.issue).items()}
    engine.dispose()
    assert set(html) == set(HTML_LANG)
    return html


def as_received(settings: Settings, html: str) -> str:
    """The variant as one subscriber gets it: the placeholders replaced by signed tokens."""
    tokens = Tokens(settings)
    return (html.replace(UNSUB_PLACEHOLDER, tokens.make(Purpose.UNSUBSCRIBE, SUBSCRIBER_ID))
            .replace(PREFS_PLACEHOLDER, tokens.make(Purpose.PREFERENCES, SUBSCRIBER_ID)))


def load(page: Page, html: str, width: int) -> list[str]:
    """Show `html` at `width` px; return the URLs of any requests the page tried to make."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.set_viewport_size({"width": width, "height": 800})
    page.set_content(html, wait_until="load")
    return requests


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
@pytest.mark.parametrize("lang", ["cy", "en", "both"])
def test_layout_fits_the_screen(browser_page: Page, settings: Settings,
                                demo_html: dict[str, str], lang: str, width: int) -> None:
    """600 px: the sections are 600 px and columns take their share; 375 px: stacked, no scroll."""
    load(browser_page, as_received(settings, demo_html[lang]), width)
    save_screenshot(browser_page, f"email-{lang}-{width}")
    m: dict[str, Any] = browser_page.evaluate(MEASURE_LAYOUT)

    assert m["lang"] == HTML_LANG[lang]
    assert m["scrollWidth"] <= width, f"horizontal overflow: {m['scrollWidth']} > {width}"
    assert m["sections"], "no MJML sections found"
    for section in m["sections"]:
        assert section == pytest.approx(min(width, 600), abs=1)
    assert m["columns"]
    for col in m["columns"]:
        share = col["pct"] / 100 if width >= 480 else 1.0  # MJML stacks columns below 480 px
        assert col["width"] == pytest.approx(share * col["row"], abs=1), col


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_bilingual_variant_puts_the_welsh_block_first(
        browser_page: Page, settings: Settings, demo_html: dict[str, str], width: int) -> None:
    """The Welsh heading is above the English one, and each sits in a block of its language."""
    load(browser_page, as_received(settings, demo_html["both"]), width)
    welsh, english = browser_page.evaluate(MEASURE_HEADINGS, [HEADINGS["cy"], HEADINGS["en"]])
    assert len(welsh) == 1 and len(english) == 1, (welsh, english)
    assert welsh[0]["visible"] and english[0]["visible"]
    assert welsh[0]["lang"] == "cy" and english[0]["lang"] == "en"
    assert welsh[0]["y"] < english[0]["y"]


@pytest.mark.parametrize("lang", ["cy", "en"])
def test_single_language_variants_have_one_block(
        browser_page: Page, settings: Settings, demo_html: dict[str, str], lang: str) -> None:
    """The Welsh and English variants show only their own language's heading."""
    load(browser_page, as_received(settings, demo_html[lang]), DESKTOP)
    found = browser_page.evaluate(MEASURE_HEADINGS, [HEADINGS["cy"], HEADINGS["en"]])
    assert [len(f) for f in found] == ([1, 0] if lang == "cy" else [0, 1])


@pytest.mark.parametrize("lang", ["cy", "en", "both"])
def test_links_images_and_no_remote_requests(
        browser_page: Page, settings: Settings, demo_html: dict[str, str], lang: str) -> None:
    """Every link is https:// without placeholders, every image has alt, nothing is fetched."""
    stored = demo_html[lang]
    site = settings.site_url.rstrip("/")
    # The only placeholders are the two personal links the sender splices in.
    assert stored.count(UNSUB_PLACEHOLDER) == stored.count(f'"{site}/u/{UNSUB_PLACEHOLDER}"') > 0
    assert stored.count(PREFS_PLACEHOLDER) == stored.count(f'"{site}/p/{PREFS_PLACEHOLDER}"') > 0

    requests = load(browser_page, as_received(settings, stored), DESKTOP)
    m: dict[str, Any] = browser_page.evaluate(MEASURE_LINKS)
    assert m["hrefs"], "no links found"
    for href in m["hrefs"]:
        if href == "#english":  # the bilingual variant's jump to its English block
            assert lang == "both" and browser_page.locator("#english").count() == 1
            continue
        assert href.startswith("https://"), href
        assert "ZZdigest" not in href, href
    unsubscribe = f"{site}/u/{Tokens(settings).make(Purpose.UNSUBSCRIBE, SUBSCRIBER_ID)}"
    assert unsubscribe in m["hrefs"]
    assert m["imagesWithoutAlt"] == []
    assert requests == [], "the email fetched remote resources"


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
@pytest.mark.parametrize("lang", ["cy", "en", "both"])
def test_axe_finds_no_violations(browser_page: Page, settings: Settings,
                                 demo_html: dict[str, str], lang: str, width: int) -> None:
    """WCAG 2.x A and AA and axe's best practices (one main landmark, one h1, everything in a
    landmark, ...) hold for each variant as a subscriber receives it."""
    load(browser_page, as_received(settings, demo_html[lang]), width)
    assert axe_violations(browser_page) == []


def test_axe_catches_what_the_email_avoids(browser_page: Page, settings: Settings,
                                           demo_html: dict[str, str]) -> None:
    """A control for the test above: the same email with its h1 demoted and a link without
    text breaks the rules axe is asked to run."""
    html = as_received(settings, demo_html["en"]).replace("<h1 ", "<div ", 1).replace(
        "</body>", '<a href="https://example.org/x"></a></body>', 1)
    load(browser_page, html, DESKTOP)
    assert {v["id"] for v in axe_violations(browser_page)} >= {"page-has-heading-one",
                                                                 "link-name"}


@pytest.mark.parametrize("lang", ["cy", "en", "both"])
def test_headings_outline_the_email(browser_page: Page, settings: Settings,
                                    demo_html: dict[str, str], lang: str) -> None:
    """One h1 (the digest's title), an h2 per section, an h3 per item; in the bilingual
    variant an h2 where English begins, after every Welsh heading."""
    load(browser_page, as_received(settings, demo_html[lang]), DESKTOP)
    outline: list[dict[str, Any]] = browser_page.evaluate(OUTLINE)
    assert [h["level"] for h in outline].count(1) == 1
    assert outline[0]["level"] == 1 and outline[0]["text"] == (
        "Social Work Research Digest" if lang == "en" else "Crynodeb Ymchwil Gwaith Cymdeithasol")
    assert outline[0]["size"] == 22  # styled as the masthead was, not as a browser's h1
    sections = [h["text"] for h in outline if h["level"] == 2]
    langs = ["cy", "en"] if lang == "both" else [lang]
    expected = {"cy": ["Adolygiadau ymchwil newydd", "Seminarau i ddod", "Newyddion a blogiau"],
                "en": ["New research reviews", "Seminars coming up", "News and blogs"]}
    wanted = [t for code in langs for t in expected[code]]
    if lang == "both":
        wanted.insert(3, "Saesneg / English")
    assert [s.upper() for s in sections] == [w.upper() for w in wanted]
    items = [h for h in outline if h["level"] == 3]
    assert len(items) == 11 * len(langs)  # the demo issue: 5 reviews, 4 seminars, 2 news
    if lang == "both":
        divider = next(i for i, h in enumerate(outline) if h["text"] == "Saesneg / English")
        assert {h["lang"] for h in outline[1:divider]} == {"cy"}
        assert {h["lang"] for h in outline[divider + 1:]} == {"en"}
        assert browser_page.locator("#english").evaluate("e => e.tagName") == "H2"


@pytest.mark.parametrize("lang", ["cy", "en"])
def test_booking_links_say_which_seminar(browser_page: Page, settings: Settings,
                                         demo_html: dict[str, str], lang: str) -> None:
    """No two links with the same text go to different places; each booking link names its
    seminar."""
    load(browser_page, as_received(settings, demo_html[lang]), DESKTOP)
    links: list[list[str]] = browser_page.evaluate(
        "() => [...document.querySelectorAll('a[href]')].map(a => [a.textContent.trim()"
        ".replace(/\\s+/g, ' '), a.getAttribute('href')])")
    targets: dict[str, set[str]] = {}
    for text, href in links:
        targets.setdefault(text, set()).add(href)
    assert {t: h for t, h in targets.items() if len(h) > 1} == {}
    booking = [t for t, _ in links if t.startswith(("Book a place: ", "Archebu lle: "))]
    assert len(booking) == 4 and len(set(booking)) == 4


def test_the_alt_text_and_remote_request_checks_can_fail(
        browser_page: Page, settings: Settings, demo_html: dict[str, str]) -> None:
    """A control for the test above: the demo email has no images, so show that its two
    detectors do catch an image without alt text and the request a remote image makes."""
    pixel = "https://remote.invalid/pixel.png"
    html = as_received(settings, demo_html["en"]).replace(
        "</body>", f'<img src="{pixel}" width="1" height="1"></body>', 1)
    requests = load(browser_page, html, DESKTOP)
    m: dict[str, Any] = browser_page.evaluate(MEASURE_LINKS)
    assert m["imagesWithoutAlt"] == [f'<img src="{pixel}" width="1" height="1">']
    assert pixel in requests
