"""The feed templates read back with a real parser (feedparser): well-formed, entries,
languages, links, dates, and text that needs escaping."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser
import pytest

from digest.render.feeds import Entry, Feed, FeedWriter, rfc822, rfc3339
from digest.settings import REPO_ROOT

SITE = "https://digest.example.org"
WHEN = datetime(2026, 9, 8, 9, 30, tzinfo=UTC)


def sample() -> Feed:
    entries = [
        Entry(id="tag:digest.example.org,2026:review/b/cy", url=f"{SITE}/reviews/b?lang=cy",
              title="Teitl <b> & ŵ\x0b", title_lang="cy", published=WHEN, updated=WHEN,
              summary="Crynodeb 3 < 4", summary_lang="cy",
              content_html='<p>Corff <a href="https://example.org/?a=1&amp;b=2">dolen</a></p>',
              content_lang="cy", author="Dr David Wilkins"),
        Entry(id="tag:digest.example.org,2026:review/a/cy", url=f"{SITE}/reviews/a?lang=cy",
              title="Only in English", title_lang="en", published=WHEN.replace(day=1),
              updated=WHEN.replace(day=2), summary="No Welsh yet", summary_lang="en"),
    ]
    return Feed(id="tag:digest.example.org,2026:reviews/cy", lang="cy",
                title="Crynodeb Ymchwil Gwaith Cymdeithasol: adolygiadau ymchwil",
                subtitle="Unwaith y mis", author="Ymchwil Gwaith Cymdeithasol",
                page=f"{SITE}/archive?lang=cy",
                urls={fmt: {code: f"{SITE}/feeds/{code}/reviews.{fmt}" for code in ("cy", "en")}
                      for fmt in ("atom", "rss")},
                entries=entries)


@pytest.fixture(scope="module")
def writer() -> FeedWriter:
    return FeedWriter(REPO_ROOT / "templates")


def test_atom_reads_back(writer: FeedWriter) -> None:
    parsed = feedparser.parse(writer.atom(sample()))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    feed = parsed.feed
    assert feed.language == "cy" and feed.title.startswith("Crynodeb")
    links = {(link.rel, link.get("hreflang"), link.href) for link in feed.links}
    assert ("self", None, f"{SITE}/feeds/cy/reviews.atom") in links
    assert ("alternate", "cy", f"{SITE}/archive?lang=cy") in links
    assert ("alternate", "en", f"{SITE}/feeds/en/reviews.atom") in links
    first, second = parsed.entries
    assert first.id == "tag:digest.example.org,2026:review/b/cy"
    assert first.title == "Teitl <b> & ŵ"  # escaped, read back as text; \x0b dropped
    assert first.link == f"{SITE}/reviews/b?lang=cy"
    assert first.published_parsed[:5] == (2026, 9, 8, 9, 30)
    assert first.author == "Dr David Wilkins"
    assert first.summary == "Crynodeb 3 < 4"
    assert first.content[0].type == "text/html" and first.content[0].language == "cy"
    assert 'href="https://example.org/?a=1&amp;b=2"' in first.content[0].value
    assert second.title_detail.language == "en"  # a fallback title is marked as English
    assert second.updated_parsed[:3] == (2026, 9, 2) and "content" not in second
    assert parsed.feed.updated_parsed[:3] == (2026, 9, 8)  # the newest entry's time


def test_rss_reads_back(writer: FeedWriter) -> None:
    parsed = feedparser.parse(writer.rss(sample()))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.language == "cy" and parsed.feed.link == f"{SITE}/archive?lang=cy"
    hrefs = {link.href for link in parsed.feed.links}
    assert f"{SITE}/feeds/cy/reviews.rss" in hrefs and f"{SITE}/feeds/en/reviews.rss" in hrefs
    first, second = parsed.entries
    assert first.title == "Teitl <b> & ŵ" and first.id.endswith("review/b/cy")
    assert first.guidislink is False and first.link == f"{SITE}/reviews/b?lang=cy"
    assert first.author == "Dr David Wilkins"
    assert "<a href=" in first.description  # the content, as HTML
    assert second.description == "No Welsh yet"  # no content: the summary
    assert second.published_parsed[:3] == (2026, 9, 1)


def test_an_empty_feed_is_valid(writer: FeedWriter) -> None:
    empty = Feed(**{**sample().__dict__, "entries": []})
    for text in (writer.atom(empty), writer.rss(empty)):
        parsed = feedparser.parse(text)
        assert not parsed.bozo and parsed.entries == []


def test_date_formats() -> None:
    assert rfc3339(WHEN) == "2026-09-08T09:30:00Z"
    assert rfc822(WHEN) == "Tue, 08 Sep 2026 09:30:00 GMT"
