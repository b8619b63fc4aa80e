"""What the templates see: one view per item kind, with the Welsh/English fallback rules.

Invariant: a view's `url` is an http(s) link or None (`safe_link`), however the view was
made, so no template, in the email or on the site, can emit another kind of link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from digest.content.links import doi_url, safe_link
from digest.i18n import event_time
from digest.store.models import Language, News, Review, Seminar


@dataclass(frozen=True)
class Localised:
    """A piece of text and the language it is actually in (after any fallback)."""

    value: str
    lang: str


def localised(cy: str | None, en: str | None, lang: str) -> Localised:
    """Text in `lang`, falling back to the other language (marked as such) if missing."""
    texts = {"cy": cy, "en": en}
    other = "en" if lang == "cy" else "cy"
    if texts[lang]:
        return Localised(texts[lang] or "", lang)
    return Localised(texts[other] or "", other)


@dataclass(frozen=True)
class _Bilingual:
    """A title and teaser in Welsh and English, read in one language with the fallback, and the
    slug the item's content files are named by."""

    title_cy: str | None
    title_en: str | None
    teaser_cy: str | None
    teaser_en: str | None
    slug: str = field(kw_only=True)

    def title(self, lang: str) -> Localised:
        """Title in `lang` (or the fallback)."""
        return localised(self.title_cy, self.title_en, lang)

    def teaser(self, lang: str) -> Localised:
        """Teaser in `lang` (or the fallback)."""
        return localised(self.teaser_cy, self.teaser_en, lang)


@dataclass(frozen=True)
class ReviewView(_Bilingual):
    """What the email shows of a review."""

    reviewer: str
    citation: str
    url: str | None  # the review's own page elsewhere, if it has one

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", safe_link(self.url))

    def link(self, site: str, lang: str) -> str:
        """Where the title points: `url` if set, else the review's page on our site in `lang`."""
        return self.url or f"{site}/reviews/{self.slug}?lang={lang}"


@dataclass(frozen=True)
class SeminarView(_Bilingual):
    """What the email shows of a seminar."""

    location_cy: str | None
    location_en: str | None
    starts_at: datetime
    ends_at: datetime | None
    presenters: str
    url: str | None
    tz: ZoneInfo

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", safe_link(self.url))

    def location(self, lang: str) -> Localised:
        """Place in `lang` (or the fallback)."""
        return localised(self.location_cy, self.location_en, lang)

    def when(self, lang: str) -> str:
        """Day, date and time in the editorial time zone, in `lang`."""
        return event_time(self.starts_at, self.ends_at, self.tz, lang)


@dataclass(frozen=True)
class NewsView(_Bilingual):
    """What the email shows of a news item."""

    url: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", safe_link(self.url))


@dataclass(frozen=True)
class IssueContent:
    """Everything one issue shows, independent of language and subscriber."""

    period: str  # YYYY-MM
    reviews: list[ReviewView]
    seminars: list[SeminarView]
    news: list[NewsView]

    @property
    def month(self) -> date:
        """First day of the issue's month."""
        year, month = self.period.split("-")
        return date(int(year), int(month), 1)


def _sentence(text: str) -> str:
    """End `text` with exactly one full stop (or its own ? or !)."""
    return text if text.endswith((".", "?", "!")) else text + "."


def citation(review: Review, *, full: bool = False, with_doi: bool = True) -> str:
    """A language-neutral reference: authors (year). Title. Journal, volume, pages. DOI.

    The email's compact form names three authors at most; `full` (the review page) names
    them all. The year is there whenever the content gives one.
    """
    authors = list(review.authors)
    more = bool(authors) and authors[-1].rstrip(".").lower() == "et al"  # "..., et al." given
    if more:
        authors = authors[:-1]
    if len(authors) > 3 and not full:
        authors, more = authors[:3], True
    names = ", ".join(authors) if more or len(authors) < 2 else (
        ", ".join(authors[:-1]) + " & " + authors[-1])
    names += " et al." if more else ""
    head = names + (f" ({review.year})" if review.year else "")
    where = review.journal + (f", {review.volume}" if review.volume else "") + (
        f", pp. {review.pages}" if review.pages else "")
    text = f"{_sentence(head)} {_sentence(review.article_title)} {_sentence(where)}"
    return text + (f" {doi_url(review.doi)}" if review.doi and with_doi else "")


def review_view(row: Review) -> ReviewView:
    """The view of a stored review."""
    return ReviewView(row.title_cy, row.title_en, row.teaser_cy, row.teaser_en,
                      row.reviewer, citation(row), row.url, slug=row.slug)


def seminar_view(row: Seminar, tz: ZoneInfo) -> SeminarView:
    """The view of a stored seminar."""
    presenters = ", ".join(
        p["name"] + (f" ({p['affiliation']})" if p.get("affiliation") else "")
        for p in row.presenters
    )
    return SeminarView(row.title_cy, row.title_en, row.teaser_cy, row.teaser_en,
                       row.location_cy, row.location_en, row.starts_at, row.ends_at,
                       presenters, row.url, tz, slug=row.slug)


def news_view(row: News) -> NewsView:
    """The view of a stored news item."""
    return NewsView(row.title_cy, row.title_en, row.teaser_cy, row.teaser_en, row.url,
                    slug=row.slug)


def variant_langs(language: Language) -> list[str]:
    """Languages shown in a variant, in order (Welsh first in the bilingual one)."""
    return ["cy", "en"] if language is Language.BOTH else [language.value]
