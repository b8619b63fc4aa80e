"""No link but http(s) is ever emitted, in the email or on the site, even for rows stored
before content was checked (or written to the database by hand)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.content.links import doi_url, http_url, safe_link
from digest.render.renderer import Renderer
from digest.render.views import IssueContent, NewsView, ReviewView, SeminarView, citation
from digest.settings import Settings
from digest.store.models import Language, Review, now_utc
from digest.web.app import create_app
from tests.factories import add_review

BAD = ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<b>x</b>",
       "vbscript:msgbox(1)", "//evil.example/x", "https:no-host", "http://u:p@evil.example/",
       "https://exa mple.org", "file:///etc/passwd", "java\tscript:alert(1)"]
GOOD = ["https://example.org/r?a=1&b=2", "http://example.org", "HTTPS://Example.org/Tŷ",
        "https://bücher.example/x", "https://xn--bcher-kva.example", "https://example.org./",
        "https://[::1]:8443/", "https://127.0.0.1/", "https://under_score.example.org/",
        "https://" + "a" * 63 + ".example/"]
# Hosts no link reaches (a typo gives a link that goes nowhere, found only by a reader).
BAD_HOSTS = ["https://example..org/", "https://./", "https://.example.org/",
             "https://exa%20mple.org/", "https://ex!ample.org/", "https://" + "a" * 64 + ".org/"]


@pytest.mark.parametrize(("doi", "url"), [
    ("10.1093/bjsw/bcz133", "https://doi.org/10.1093/bjsw/bcz133"),
    ("10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0",
     "https://doi.org/10.1002/(SICI)1097-4571(199806)49:8%3C693::AID-ASI4%3E3.0.CO;2-0"),
    ("10.1000/a#b?c%d", "https://doi.org/10.1000/a%23b%3Fc%25d"),
])
def test_a_doi_link_encodes_what_a_url_would_read_otherwise(doi: str, url: str) -> None:
    """A # in a DOI made the rest of it a fragment: the link went to another DOI."""
    assert doi_url(doi) == url and http_url(url) == url
    review = Review(slug="r", published_at=now_utc(), reviewer="R", authors=["A"],
                    article_title="T", journal="J", doi=doi)
    assert citation(review).endswith(f" {url}")


@pytest.mark.parametrize("url", BAD_HOSTS)
def test_a_link_whose_host_is_no_name_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="host"):
        http_url(url)
    assert safe_link(url) is None


@pytest.mark.parametrize("url", BAD)
def test_what_is_not_an_http_link_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        http_url(url)
    assert safe_link(url) is None


@pytest.mark.parametrize("url", GOOD)
def test_http_links_pass(url: str) -> None:
    assert http_url(url) == url and safe_link(url) == url


def test_the_email_never_links_a_bad_url() -> None:
    tz = ZoneInfo("Europe/London")
    when = datetime(2026, 9, 15, 11, tzinfo=UTC)
    content = IssueContent(
        "2026-09",
        [ReviewView("Teitl", "Title", "Crynodeb", "Teaser", "Dr X", "Cite.", url,
                    slug=f"r-{i}")
         for i, url in enumerate(BAD)],
        [SeminarView("S", "S", "T", "T", "Ar-lein", "Online", when, None, "Dr Y", url, tz,
                     slug="s")
         for url in BAD],
        [NewsView("N", "N", "T", "T", url, slug="n") for url in BAD])
    renderer = Renderer(Settings(_env_file=None))  # type: ignore[call-arg]
    for language in Language:
        variant = renderer.render(content, language)
        for part in (variant.html.lower(), variant.text.lower()):
            for scheme in ("javascript:", "data:", "vbscript:", "file:", "evil.example"):
                assert scheme not in part, (language, scheme)
        # each review's title links to its page on our site instead
        assert variant.html.count("https://digest.example.org/reviews/r-") >= len(BAD)


def test_the_review_page_never_links_a_bad_url(engine: Engine, session: Session,
                                               db_settings: Settings) -> None:
    row = add_review(session, "old-row", now_utc() - timedelta(days=1))
    row.url = "javascript:alert(document.cookie)"  # stored before links were checked
    session.commit()
    with TestClient(create_app(db_settings, engine),
                    base_url="https://digest.example.org") as client:
        page = client.get("/reviews/old-row?lang=en")
    assert page.status_code == 200 and "Review old-row" in page.text
    assert "javascript:" not in page.text.lower()
