"""Rendering: MJML output kept intact through premailer, language marking, size, text part."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import mjml
import pytest

from digest.content import files, sync
from digest.render import MAX_HTML_BYTES
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.render.renderer import Renderer
from digest.render.views import (
    IssueContent,
    ReviewView,
    citation,
    news_view,
    review_view,
    seminar_view,
)
from digest.settings import REPO_ROOT, Settings
from digest.store.models import Language, Review, Seminar
from tests.conftest import skip_or_fail
from tests.factories import sample_content as sample

TZ = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(Settings(_env_file=None))  # type: ignore[call-arg]


class LangBlocks(HTMLParser):
    """Collects the `lang` attribute of every element that has one, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.langs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("lang") and found.get("role") != "article":  # skip MJML's outer wrapper
            self.langs.append((tag, found["lang"] or ""))


def test_doctype_outlook_conditionals_and_responsive_rules_survive(renderer: Renderer) -> None:
    html = renderer.render(sample(), Language.EN).html
    assert html.startswith("<!doctype html>\n<html")
    assert "<!--[if mso | IE]>" in html and "<![endif]-->" in html
    assert re.search(r"\.mj-column-per-100 \{ width:100% !important", html)
    assert "fonts.googleapis" not in html and "@import" not in html
    assert 'role="presentation"' in html


def test_only_our_css_is_inlined_not_the_mjml_reset(renderer: Renderer) -> None:
    _, _, source, _ = renderer.compose(sample(), Language.EN)
    raw = mjml.mjml2html(source, fonts={})
    html = renderer.inline_css(raw)
    # MJML's reset (`table, td { border-collapse: collapse; ... }`) stays a style rule.
    assert html.count("border-collapse") == raw.count("border-collapse")
    assert 'class="kicker" style="color:#0b5c7a' in html  # our own rule was inlined
    assert "digest:inline" not in html
    assert len(html) < len(raw) * 1.1


def test_language_marking_and_welsh_first(renderer: Renderer) -> None:
    both = renderer.render(sample(), Language.BOTH)
    parser = LangBlocks()
    parser.feed(both.html)
    assert parser.langs[0] == ("html", "cy")
    divs = [lang for tag, lang in parser.langs if tag == "div"]
    # masthead: Welsh lines first, then English, then the jump link for English readers
    assert divs[:5] == ["cy", "cy", "en", "en", "en"]
    body, footers = divs[5:-2], divs[-2:]
    half = len(body) // 2
    assert body[:half] == ["cy"] * half and body[half:] == ["en"] * half
    assert footers == ["cy", "en"]  # one footer section, Welsh first
    assert 'href="#english"' in both.html and 'id="english"' in both.html
    assert both.html.count(">Dad-danysgrifio<") == 1 and both.html.count(">Unsubscribe<") == 1
    assert both.html.index("Adolygiadau ymchwil newydd") < both.html.index("New research reviews")
    assert both.subject.index("Medi 2026") < both.subject.index("September 2026")
    # The English-only news item is marked as English inside the Welsh block.
    assert '<span lang="en">Only in English</span>' in both.html


def test_bilingual_variant_marks_where_english_begins(renderer: Renderer) -> None:
    """A rule and a heading in both languages between the Welsh and the English block, in the
    HTML and the text part alike; the single-language variants have neither."""
    both = renderer.render(sample(), Language.BOTH)
    heading = ('<h2 id="english" class="lang-heading"')
    assert both.html.count(heading) == 1
    at = both.html.index(heading)
    assert both.html.rindex("Adolygiadau ymchwil newydd", 0, at) < at
    assert both.html.index("New research reviews") > at
    assert "<p style=\"border-top:solid 2px #0b5c7a" in both.html[:at]  # mj-divider's rule
    assert "SAESNEG / ENGLISH" in both.text
    assert both.text.index("ADOLYGIADAU") < both.text.index("SAESNEG / ENGLISH") < both.text.index(
        "NEW RESEARCH REVIEWS")
    for language in (Language.CY, Language.EN):
        v = renderer.render(sample(), language)
        assert "lang-heading" not in v.html and "SAESNEG" not in v.text


def test_the_email_is_one_main_landmark_around_mjmls_article(renderer: Renderer) -> None:
    html = renderer.render(sample(), Language.CY).html
    assert html.count('role="main"') == 1
    assert re.search(r'<div role="main"><div [^>]*role="article"', html)
    assert re.search(r"</div></div>\s*</body>", html)


def test_personal_footer_lines_are_marked_for_the_archive(renderer: Renderer) -> None:
    both = renderer.render(sample(), Language.BOTH).html
    personal = re.findall(r'<span class="personal">(.*?)</span>', both, flags=re.DOTALL)
    assert len(personal) == 2  # one per language
    for part in personal:
        assert UNSUB_PLACEHOLDER in part and PREFS_PLACEHOLDER in part


def test_single_language_variants(renderer: Renderer) -> None:
    cy = renderer.render(sample(), Language.CY)
    en = renderer.render(sample(), Language.EN)
    assert '<html lang="cy"' in cy.html and '<html lang="en"' in en.html
    assert "New research reviews" not in cy.html and "Adolygiadau" not in en.html
    assert "Dydd Mawrth 15 Medi 2026, 12:00–13:00" in cy.html
    assert "Tuesday 15 September 2026, 12:00–13:00" in en.html
    assert cy.preheader == "3 adolygiad newydd · 1 seminar i ddod · 1 eitem newyddion"
    assert en.preheader == "3 new reviews · 1 seminar coming up · 1 news item"


def test_text_part_carries_the_same_content(renderer: Renderer) -> None:
    for language in Language:
        v = renderer.render(sample(), language)
        for needle in ("Title 0", "Teaser 2", "https://example.org/s"):
            if language is not Language.CY:
                assert needle in v.text and needle in v.html
        assert "<div" not in v.text and "&amp;" not in v.text
        assert f"/u/{UNSUB_PLACEHOLDER}" in v.text and f"/p/{PREFS_PLACEHOLDER}" in v.text
        assert f"/u/{UNSUB_PLACEHOLDER}" in v.html and f"/p/{PREFS_PLACEHOLDER}" in v.html
        assert all(len(line) <= 78 or "://" in line for line in v.text.splitlines())


def test_review_titles_link_to_the_review_in_the_readers_language(renderer: Renderer) -> None:
    site = "https://digest.example.org"
    both = renderer.render(sample(), Language.BOTH)
    cy_page, en_page = (f"{site}/reviews/review-0?lang={lang}" for lang in ("cy", "en"))
    # Each language block links to the page in its own language, Welsh first.
    for part in (both.html, both.text):
        assert part.count(cy_page) == 1 and part.count(en_page) == 1
        assert part.index(cy_page) < part.index(en_page)
    def linked(href: str, title: str) -> bool:
        return re.search(rf'<a href="{re.escape(href)}"[^>]*>{title}</a>', both.html) is not None

    assert linked(cy_page, "Teitl 0 ŵ") and linked(en_page, "Title 0")
    # A review with a page of its own elsewhere links there instead.
    assert linked("https://example.org/r1", "Title 1")
    assert "reviews/review-1" not in both.html + both.text
    en = renderer.render(sample(), Language.EN)
    assert en_page in en.html and cy_page not in en.html + en.text


def test_autoescape_is_on(renderer: Renderer) -> None:
    evil = IssueContent("2026-09", [ReviewView("<script>x</script>", "<b>t</b>", "a", "b", "R",
                                               "C", None, slug="evil")], [], [])
    html = renderer.render(evil, Language.BOTH).html
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html


def test_citation_formats() -> None:
    r = Review(slug="x", published_at=datetime(2026, 1, 1, tzinfo=UTC), reviewer="R",
               authors=["A One", "B Two"], year=2020, article_title="What works?",
               journal="J", volume="5(2)", pages="1-9", doi="10.1/x")
    assert citation(r) == "A One & B Two (2020). What works? J, 5(2), pp. 1-9. https://doi.org/10.1/x"
    r.authors = ["A", "B", "C", "D"]
    r.doi = None
    assert citation(r).startswith("A, B, C et al. (2020).")
    assert citation(r, full=True).startswith("A, B, C & D (2020).")  # the review page's
    r.authors, r.year, r.doi = ["A", "B", "et al."], None, "10.1/y"  # "et al." in the content
    assert citation(r) == citation(r, full=True) == (
        "A, B et al. What works? J, 5(2), pp. 1-9. https://doi.org/10.1/y")
    assert citation(r, with_doi=False).endswith("pp. 1-9.")


def real_content() -> IssueContent:
    """Every item in the repository's content/ in one issue: the largest realistic email."""
    items = files.load_dir(REPO_ROOT / "content")
    reviews, seminars, news = [], [], []
    for item in items:
        model, values = sync.row_values(item, TZ)
        row = model(**values)
        if isinstance(row, Review):
            reviews.append(review_view(row))
        elif isinstance(row, Seminar):
            seminars.append(seminar_view(row, TZ))
        else:
            news.append(news_view(row))  # type: ignore[arg-type]
    return IssueContent("2026-09", reviews, seminars, news)


def test_citations_show_the_year_whenever_the_content_has_one(renderer: Renderer) -> None:
    items = [i for i in files.load_dir(REPO_ROOT / "content") if i.meta.type == "review"]
    years = {i.slug: i.meta.citation.year for i in items}  # type: ignore[union-attr]
    assert any(years.values()) and not all(years.values())
    html = renderer.render(real_content(), Language.BOTH).html
    for review in real_content().reviews:
        year = years[review.slug]
        assert (f"({year})" in review.citation) is bool(year), review.slug
        assert html.count(review.citation.replace("&", "&amp;")) == 2, review.slug


def test_every_variant_of_the_largest_issue_stays_under_the_gmail_clip(
        renderer: Renderer) -> None:
    issue = real_content()
    assert len(issue.reviews) >= 5
    for language in Language:
        size = len(renderer.render(issue, language).html.encode("utf-8"))
        assert size < MAX_HTML_BYTES, f"{language.value}: {size} bytes"


def test_templates_pass_the_mjml_reference_validator(renderer: Renderer, tmp_path: Path) -> None:
    validator = REPO_ROOT / "node_modules" / ".bin" / "mjml"
    if not validator.exists():
        skip_or_fail("MJML reference validator missing: run `npm ci` in the repo "
                     "(python3 dev.py test does it when npm is installed)")
    if shutil.which("node") is None:
        skip_or_fail("Node.js is not installed; the MJML validator needs it")
    for language in Language:
        _, _, source, _ = renderer.compose(real_content(), language)
        path = tmp_path / f"{language.value}.mjml"
        path.write_text(source, encoding="utf-8")
        proc = subprocess.run([str(validator), "--validate", str(path)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_control_characters_in_stored_text_are_not_rendered(renderer: Renderer) -> None:
    # Content is checked now, but a row stored before may hold them; MJML (XML) refuses them.
    content = sample()
    bad = ReviewView("Teitl\x1b[2J\x00 ŵ", "Title\x07\x0bforged", "Crynodeb\x85", "Teaser\u2028",
                     "Dr X\x1f", "Cite.", None, slug="bad-row")
    content = IssueContent(content.period, [bad, *content.reviews], content.seminars,
                           content.news)
    for language in Language:
        variant = renderer.render(content, language)
        for part in (variant.html, variant.text):
            assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", part), language
        assert "Teitl [2J  ŵ" in variant.html or "Title  forged" in variant.html
