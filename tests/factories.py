"""Small builders for store rows used across tests (plain inserts, caller commits)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from digest.issue import lifecycle, service
from digest.render.views import IssueContent, NewsView, ReviewView, SeminarView
from digest.settings import Settings
from digest.store.models import (
    Issue,
    Language,
    News,
    NewsKind,
    Review,
    Seminar,
    Subscriber,
    SubscriberState,
)

AS_OF = datetime(2026, 9, 7, 8, 0, tzinfo=UTC)  # 09:00 BST, first Monday of September 2026


def add_review(session: Session, slug: str, published: datetime, *, welsh: bool = True,
               title: str | None = None) -> Review:
    """A review with English and (optionally) Welsh text."""
    row = Review(
        slug=slug, published_at=published, reviewer="Dr David Wilkins",
        authors=["Mark Wilberforce", "Michele Abendstern", "Saqba Batool", "Jane Hughes"],
        year=2020, article_title=f"Article about {slug}", journal="British Journal of Social Work",
        volume="50(5)", pages="1324-1344", url=f"https://example.org/reviews/{slug}",
        title_en=title or f"Review {slug}", teaser_en=f"What {slug} found.",
        title_cy=f"Adolygiad {slug} ŵ" if welsh else None,
        teaser_cy=f"Beth ganfu {slug}." if welsh else None,
    )
    session.add(row)
    return row


def add_seminar(session: Session, slug: str, starts: datetime,
                published: datetime = datetime(2026, 8, 1, tzinfo=UTC)) -> Seminar:
    """A seminar in both languages."""
    row = Seminar(
        slug=slug, published_at=published, starts_at=starts, ends_at=None,
        presenters=[{"name": "Dr Sara Long", "affiliation": "DECIPHer"}], online=True,
        url=f"https://example.org/seminars/{slug}",
        title_en=f"Seminar {slug}", title_cy=f"Seminar {slug} (cy)",
        teaser_en="A talk.", teaser_cy="Sgwrs.", location_en="Online", location_cy="Ar-lein",
    )
    session.add(row)
    return row


def add_news(session: Session, slug: str, published: datetime) -> News:
    """A news item in both languages."""
    row = News(slug=slug, kind=NewsKind.RESOURCE, published_at=published,
               title_en=f"News {slug}", title_cy=f"Newyddion {slug}",
               teaser_en="Something happened.", teaser_cy="Digwyddodd rhywbeth.")
    session.add(row)
    return row


def add_sample_content(session: Session) -> None:
    """Three fresh reviews, one old one, two upcoming seminars and a news item."""
    add_review(session, "old", datetime(2026, 6, 1, tzinfo=UTC))
    for day, slug in ((10, "alpha"), (20, "beta"), (30, "gamma")):
        add_review(session, slug, datetime(2026, 8, day, tzinfo=UTC))
    add_seminar(session, "sept", datetime(2026, 9, 15, 11, tzinfo=UTC))
    add_seminar(session, "oct", datetime(2026, 10, 7, 12, tzinfo=UTC))
    add_news(session, "launch", datetime(2026, 8, 18, tzinfo=UTC))
    session.flush()


def add_subscribers(session: Session, per_language: int = 2) -> list[Subscriber]:
    """`per_language` active subscribers for each language choice."""
    rows = []
    for lang in Language:
        for i in range(per_language):
            rows.append(Subscriber(email=f"{lang.value}{i}@example.org",
                                   name=f"Siân {lang.value} {i}", language=lang,
                                   state=SubscriberState.ACTIVE))
    session.add_all(rows)
    session.flush()
    return rows


def approved_issue(session: Session, settings: Settings) -> Issue:
    """The issue planned as of AS_OF from what the session holds, approved and committed."""
    outcome = service.plan(session, settings, AS_OF)
    assert outcome.issue is not None
    lifecycle.approve(session, outcome.issue, "test")
    session.commit()
    return outcome.issue


def sample_content() -> IssueContent:
    """A small issue built from views directly (no store): three reviews, a seminar, news."""
    # The first review has no page of its own elsewhere: its title links to ours.
    reviews = [ReviewView(f"Teitl {i} ŵ", f"Title {i}", f"Crynodeb {i}", f"Teaser {i}",
                          "Dr X", f"Citation {i}.", f"https://example.org/r{i}" if i else None,
                          slug=f"review-{i}") for i in range(3)]
    seminars = [SeminarView("Seminar Cymraeg", "English seminar", "Sgwrs", "A talk", "Ar-lein",
                            "Online", datetime(2026, 9, 15, 11, tzinfo=UTC),
                            datetime(2026, 9, 15, 12, tzinfo=UTC), "Dr Y (Z)",
                            "https://example.org/s", ZoneInfo("Europe/London"),
                            slug="seminar")]
    news = [NewsView(None, "Only in English", None, "No Welsh yet", None, slug="news")]
    return IssueContent("2026-09", reviews, seminars, news)
