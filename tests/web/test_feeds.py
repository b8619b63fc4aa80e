"""The feeds over HTTP, read back with feedparser: per language, of the archive and of the
reviews, linked from the pages."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.store.models import Review, now_utc
from tests.factories import add_review
from tests.web import demo_site

SITE = "https://digest.example.org"
FEEDS = [(lang, kind, fmt) for lang in ("cy", "en") for kind in ("issues", "reviews")
         for fmt in ("atom", "rss")]


@pytest.fixture
def feeds(engine: Engine, session: Session, db_settings: Settings) -> Iterator[TestClient]:
    """The app with the demo issue sent."""
    demo_site.plan_demo(session, db_settings)
    demo_site.send_demo(engine, session, db_settings, MemoryTransport())
    with demo_site.client(engine, db_settings, MemoryTransport()) as client:
        yield client


def read(client: TestClient, lang: str, kind: str, fmt: str) -> feedparser.FeedParserDict:
    response = client.get(f"/feeds/{lang}/{kind}.{fmt}")
    assert response.status_code == 200
    mime = "application/atom+xml" if fmt == "atom" else "application/rss+xml"
    assert response.headers["content-type"] == f"{mime}; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == ("atom10" if fmt == "atom" else "rss20")
    return parsed


@pytest.mark.parametrize(("lang", "kind", "fmt"), FEEDS)
def test_every_feed_parses_in_its_language(feeds: TestClient, lang: str, kind: str,
                                           fmt: str) -> None:
    parsed = read(feeds, lang, kind, fmt)
    assert parsed.feed.language == lang
    assert parsed.feed.title.startswith("Crynodeb Ymchwil" if lang == "cy" else "Social Work")
    hrefs = {link.href for link in parsed.feed.links}
    other = "en" if lang == "cy" else "cy"
    assert f"{SITE}/feeds/{lang}/{kind}.{fmt}" in hrefs  # self
    assert f"{SITE}/feeds/{other}/{kind}.{fmt}" in hrefs  # the other language's
    assert parsed.entries
    for entry in parsed.entries:
        assert entry.link.startswith(f"{SITE}/")
        assert f"lang={lang}" in entry.link or entry.link.endswith(f"/{lang}")
        assert entry.id.startswith("tag:digest.example.org,2026:")


@pytest.mark.parametrize("lang", ["cy", "en"])
def test_the_issues_feed_has_each_sent_issue(feeds: TestClient, lang: str) -> None:
    (entry,) = read(feeds, lang, "issues", "atom").entries
    assert entry.link == f"{SITE}/archive/2026-09/{lang}"
    assert entry.title == ("Crynodeb Ymchwil Gwaith Cymdeithasol: Medi 2026" if lang == "cy"
                           else "Social Work Research Digest: September 2026")
    assert entry.summary.startswith("5 adolygiad newydd" if lang == "cy" else "5 new reviews")
    content = entry.content[0].value
    assert content.count("<li") == 11  # the issue's items, linked
    assert f'href="{SITE}/reviews/adoption-sibling-relationships?lang={lang}"' in content
    (item,) = read(feeds, lang, "issues", "rss").entries
    assert item.link == entry.link and item.id == entry.id


def test_the_reviews_feed_has_the_published_reviews_newest_first(
        feeds: TestClient, session: Session) -> None:
    add_review(session, "tomorrow", now_utc() + timedelta(days=1))
    add_review(session, "english-only", datetime(2026, 11, 30, tzinfo=UTC), welsh=False)
    session.commit()
    published = session.exec(select(Review).where(col(Review.published_at) <= now_utc())).all()
    parsed = read(feeds, "cy", "reviews", "atom")
    assert len(parsed.entries) == len(published) == 13
    assert "tomorrow" not in str(parsed.entries)
    dates = [e.published_parsed for e in parsed.entries]
    assert dates == sorted(dates, reverse=True)
    first = parsed.entries[0]
    assert first.link == f"{SITE}/reviews/english-only?lang=cy"
    assert first.title_detail.language == "en"  # no Welsh title: the English one, marked
    adoption = next(e for e in parsed.entries if "adoption-sibling" in e.link)
    assert adoption.title.startswith("Dylanwad mabwysiadu")
    assert adoption.author == "Dr David Wilkins"
    assert "Ar ba gwestiwn y mae" in adoption.content[0].value  # the whole review
    assert "Sarah Meakings" in adoption.content[0].value


def test_a_withdrawn_review_leaves_its_feed_and_its_page_is_gone(
        feeds: TestClient, session: Session) -> None:
    slug = "adoption-sibling-relationships"
    assert feeds.get(f"/reviews/{slug}").status_code == 200
    review = session.exec(select(Review).where(Review.slug == slug)).one()
    review.withdrawn_at = now_utc()
    session.add(review)
    session.commit()
    for lang, title in (("cy", "Wedi'i thynnu'n ôl"), ("en", "Withdrawn")):
        gone = feeds.get(f"/reviews/{slug}?lang={lang}")
        assert gone.status_code == 410 and title in html.unescape(gone.text)
        parsed = read(feeds, lang, "reviews", "atom")
        assert parsed.entries and slug not in str(parsed.entries)
    assert read(feeds, "en", "issues", "atom").entries  # the sent issue keeps its archive


def test_unknown_feeds_are_not_found(feeds: TestClient) -> None:
    for path in ("/feeds/fr/issues.atom", "/feeds/cy/seminars.atom", "/feeds/cy/issues.json",
                 "/feeds/cy/issues", "/feeds/both/issues.rss"):
        assert feeds.get(path).status_code == 404, path


@pytest.mark.parametrize("path", ["/subscribe", "/archive",
                                  "/reviews/adoption-sibling-relationships"])
def test_public_pages_link_to_their_languages_feeds(feeds: TestClient, path: str) -> None:
    for lang in ("cy", "en"):
        html = feeds.get(f"{path}?lang={lang}").text
        head = html[:html.index("</head>")]
        linked = re.findall(r'<link rel="alternate" type="application/(atom|rss)\+xml" '
                            r'title="[^"]+" href="([^"]+)">', head)
        assert sorted(url for _, url in linked) == sorted(
            f"{SITE}/feeds/{lang}/{kind}.{fmt}" for kind in ("issues", "reviews")
            for fmt in ("atom", "rss"))
        footer = html[html.index('<footer class="site">'):]
        assert footer.count(f'href="{SITE}/feeds/{lang}/') == 4  # and visibly
        for _, url in linked:
            assert feeds.get(url.removeprefix(SITE)).status_code == 200


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_links_in_a_review_body_are_absolute_in_the_feed(
        feeds: TestClient, session: Session, fmt: str) -> None:
    # A relative link works on the review's page; in a feed it would resolve against the
    # feed's address, or nowhere (RSS readers). The feed gives it as the page resolves it.
    review = add_review(session, "linked", datetime(2026, 11, 30, tzinfo=UTC))
    review.body_en = ("[next](other-review) · [home](/archive?a=1&b=2) · [up](#findings) · "
                      "[away](https://example.org/x) · ![chart](/static/c.png)")
    session.commit()
    raw = feeds.get(f"/feeds/en/reviews.{fmt}").content
    ElementTree.fromstring(raw)  # well-formed
    hrefs = re.findall(r'(?:href|src)="([^"]*)"', html.unescape(raw.decode()))
    page = f"{SITE}/reviews/linked"
    for wanted in (f"{SITE}/reviews/other-review", f"{SITE}/archive?a=1&amp;b=2",
                   f"{page}#findings", "https://example.org/x", f"{SITE}/static/c.png"):
        assert wanted in hrefs, (wanted, hrefs)
    assert all(h.startswith(("https://", "http://")) for h in hrefs), hrefs
