"""Content sync: validated items upserted into the store by slug.

Invariant: a slug names one item, whatever its kind. An item whose `type` changed (a review
that becomes a seminar) replaces the row of its old kind, unless an issue carries that row:
then the sync is refused, and nothing is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from digest.content.files import (
    ContentError,
    ContentInvalid,
    ContentItem,
    ReviewMeta,
    SeminarMeta,
    to_utc,
)
from digest.i18n import LANGS
from digest.store.models import (
    CONTENT_MODELS,
    ContentRow,
    Issue,
    IssueItem,
    News,
    Review,
    Seminar,
    core_table,
    now_utc,
)


def row_values(item: ContentItem, tz: ZoneInfo) -> tuple[type[ContentRow], dict[str, Any]]:
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
    retyped: list[str] = field(default_factory=list)  # "slug: review -> seminar"
    absent: list[str] = field(default_factory=list)  # stored slugs with no file this time
    withdrawn: list[str] = field(default_factory=list)  # slugs this sync withdrew
    restored: list[str] = field(default_factory=list)  # slugs withdrawn before, back now

    def total(self, which: dict[str, int]) -> int:
        """Sum of one of the counters."""
        return sum(which.values())


def _retypes(session: Session, items: list[ContentItem], tz: ZoneInfo
             ) -> tuple[list[tuple[type[ContentRow], int]], list[str]]:
    """Rows of another kind holding an item's slug: those to delete, and what they were;
    raises ContentInvalid (before anything is written) if an issue carries one."""
    doomed, retyped, errors = [], [], []
    for item in items:
        table, _ = row_values(item, tz)
        for kind, other in CONTENT_MODELS.items():
            if other is table:
                continue
            rows = core_table(other).c
            row_id = session.execute(sa.select(rows.id).where(rows.slug == item.slug)).scalar()
            if row_id is None:
                continue
            issues, frozen = core_table(Issue).c, core_table(IssueItem).c
            periods = session.execute(
                sa.select(issues.period).join(core_table(IssueItem),
                                              frozen.issue_id == issues.id)
                .where(frozen.kind == kind.value, frozen.item_id == row_id)).scalars().all()
            change = f"{item.slug}: {kind.value} -> {table.__tablename__}"
            if periods:
                path, line = item.type_at or (item.paths[0], None)
                errors.append(ContentError(path, line, "type", (
                    f"{item.slug!r} is a {kind.value} in issue(s) {', '.join(sorted(periods))}"
                    f"; it cannot become a {table.__tablename__}: give the "
                    f"{table.__tablename__} a new slug")))
            doomed.append((other, row_id))
            retyped.append(change)
    if errors:
        raise ContentInvalid(errors)
    return doomed, retyped


def upsert(session: Session, items: list[ContentItem], tz: ZoneInfo) -> SyncReport:
    """Upsert validated items by slug; the caller owns the transaction (on ContentInvalid,
    nothing has been written)."""
    report = SyncReport()
    doomed, report.retyped = _retypes(session, items, tz)
    for table, row_id in doomed:
        session.execute(sa.delete(table).where(core_table(table).c.id == row_id))
    session.flush()
    now = now_utc()
    for item in items:
        table, values = row_values(item, tz)
        kind = str(table.__tablename__)
        row = session.exec(select(table).where(table.slug == values["slug"])).first()  # type: ignore[attr-defined]
        if row is None:
            values["withdrawn_at"] = now if item.meta.withdrawn else None
            session.add(table(**values))
            if item.meta.withdrawn:
                report.withdrawn.append(item.slug)
            report.created[kind] = report.created.get(kind, 0) + 1
            continue
        # The moment of withdrawal is kept while the file still says so.
        was = row.withdrawn_at  # type: ignore[attr-defined]
        values["withdrawn_at"] = (was or now) if item.meta.withdrawn else None
        if (was is None) != (values["withdrawn_at"] is None):
            (report.withdrawn if was is None else report.restored).append(item.slug)
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            for k, v in changed.items():
                setattr(row, k, v)
            row.updated_at = now_utc()  # type: ignore[attr-defined]
            report.updated[kind] = report.updated.get(kind, 0) + 1
        else:
            report.unchanged[kind] = report.unchanged.get(kind, 0) + 1
    session.flush()
    report.absent = _absent(session, {item.slug for item in items})
    return report


def _absent(session: Session, present: set[str]) -> list[str]:
    """The stored items whose slug has no file among `present`, sorted: a deleted file leaves
    its item in the store (issues point at it), where planning can still choose it."""
    found: list[str] = []
    for table in CONTENT_MODELS.values():
        slugs = session.execute(sa.select(core_table(table).c.slug)).scalars()
        found.extend(slug for slug in slugs if slug not in present)
    return sorted(found)
