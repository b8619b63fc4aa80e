"""An item whose `type` changes keeps one slug: its old row goes, or, if an issue carries that
row, the sync is refused with the file, line and field, and nothing is applied."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from digest.content.files import ContentInvalid, load_dir
from digest.content.sync import upsert
from digest.settings import Settings
from digest.store.models import Issue, IssueItem, IssueState, ItemKind, News, Review, Seminar
from tests.content.test_files import GOOD, NEWS_CY, NEWS_EN, write

AS_NEWS = {k: v for k, v in GOOD.items() if not k.startswith("reviews/adoption")} | {
    "news/adoption.en.md": NEWS_EN.replace("A new toolkit", "Adoption, now news"),
    "news/adoption.cy.md": NEWS_CY}


def slugs(session: Session) -> list[tuple[str, str]]:
    session.expire_all()
    found = [("review", r.slug) for r in session.exec(select(Review))]
    found += [("seminar", s.slug) for s in session.exec(select(Seminar))]
    return sorted(found + [("news", n.slug) for n in session.exec(select(News))])


def test_a_retyped_item_replaces_its_old_row(session: Session, tmp_path: Path,
                                             db_settings: Settings) -> None:
    upsert(session, load_dir(write(tmp_path / "v1", GOOD)), db_settings.tz)
    session.commit()
    report = upsert(session, load_dir(write(tmp_path / "v2", AS_NEWS)), db_settings.tz)
    session.commit()
    assert report.retyped == ["adoption: review -> news"]
    found = slugs(session)
    assert ("news", "adoption") in found and ("review", "adoption") not in found
    assert len({slug for _, slug in found}) == len(found)  # one item per slug
    again = upsert(session, load_dir(write(tmp_path / "v2", AS_NEWS)), db_settings.tz)
    assert again.retyped == [] and again.total(again.unchanged) == 4


def test_retyping_an_item_an_issue_carries_is_refused(session: Session, tmp_path: Path,
                                                      db_settings: Settings) -> None:
    upsert(session, load_dir(write(tmp_path / "v1", GOOD)), db_settings.tz)
    review = session.exec(select(Review).where(Review.slug == "adoption")).one()
    issue = Issue(period="2026-09", cutoff_at=datetime(2026, 9, 7, tzinfo=UTC),
                  since_at=datetime(2026, 8, 7, tzinfo=UTC), state=IssueState.SENT)
    session.add(issue)
    session.flush()
    session.add(IssueItem(issue_id=issue.id or 0, kind=ItemKind.REVIEW,
                          item_id=review.id or 0, position=0))
    session.commit()
    before = slugs(session)
    root = write(tmp_path / "v2", AS_NEWS)
    with pytest.raises(ContentInvalid) as refused:
        upsert(session, load_dir(root), db_settings.tz)
    session.rollback()
    [error] = refused.value.errors
    assert (error.path, error.line, error.field) == (root / "news/adoption.en.md", 2, "type")
    assert "'adoption' is a review in issue(s) 2026-09" in error.message
    assert slugs(session) == before  # nothing applied
