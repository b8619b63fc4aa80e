"""Content sync: validated items upserted into the store by slug."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, SQLModel, select

from digest.content.files import ContentItem, ReviewMeta, SeminarMeta, to_utc
from digest.i18n import LANGS
from digest.store.models import News, Review, Seminar, now_utc


def row_values(item: ContentItem, tz: ZoneInfo) -> tuple[type[SQLModel], dict[str, Any]]:
    """The table and column values an item maps to."""
    values: dict[str, Any] = {"slug": item.slug, "published_at": to_utc(item.meta.published, tz)}
    for lang in LANGS:
        tr = item.translations.get(lang)
        values[f"title_{lang}"] = tr.title if tr else None
        values[f"teaser_{lang}"] = tr.teaser if tr else None
        values[f"body_{lang}"] = tr.body if tr else None
    meta = item.meta
    if isinstance(meta, ReviewMeta):
        c = meta.citation
        values.update(reviewer=meta.reviewer, authors=c.authors, year=c.year,
                      article_title=c.title, journal=c.journal, volume=c.volume,
                      pages=c.pages, doi=c.doi, url=meta.url)
        return Review, values
    if isinstance(meta, SeminarMeta):
        for lang in LANGS:
            tr = item.translations.get(lang)
            values[f"location_{lang}"] = tr.location if tr else None
        values.update(starts_at=to_utc(meta.starts_at, tz),
                      ends_at=to_utc(meta.ends_at, tz) if meta.ends_at else None,
                      presenters=[p.model_dump(exclude_none=True) for p in meta.presenters],
                      online=meta.online, url=meta.url)
        return Seminar, values
    values.update(kind=meta.kind, author=meta.author, url=meta.url)
    return News, values


@dataclass
class SyncReport:
    """What a sync did, by kind."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def total(self, which: dict[str, int]) -> int:
        """Sum of one of the counters."""
        return sum(which.values())


def upsert(session: Session, items: list[ContentItem], tz: ZoneInfo) -> SyncReport:
    """Upsert validated items by slug; the caller owns the transaction."""
    report = SyncReport()
    for item in items:
        table, values = row_values(item, tz)
        kind = str(table.__tablename__)
        row = session.exec(select(table).where(table.slug == values["slug"])).first()  # type: ignore[attr-defined]
        if row is None:
            session.add(table(**values))
            report.created[kind] = report.created.get(kind, 0) + 1
            continue
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            for k, v in changed.items():
                setattr(row, k, v)
            row.updated_at = now_utc()  # type: ignore[attr-defined]
            report.updated[kind] = report.updated.get(kind, 0) + 1
        else:
            report.unchanged[kind] = report.unchanged.get(kind, 0) + 1
    session.flush()
    return report
