"""`withdrawn: true` in an item's file: kept in the store for the issues that carry it, but
no longer chosen by planning, listed in a feed or shown on its page; taken out, it is back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from digest.cli import app
from digest.content.files import ContentInvalid, load_dir
from digest.issue import checks, lifecycle, service
from digest.settings import Settings
from digest.store.models import IssueItem, IssueState, ItemKind, Review
from tests.content.test_files import GOOD, REVIEW_CY, REVIEW_EN, apply, write

ITEMS = GOOD | {"reviews/second.en.md": REVIEW_EN,  # two new reviews for September
                "reviews/second.cy.md": REVIEW_CY}
WITHDRAWN = ITEMS | {"reviews/adoption.en.md": REVIEW_EN.replace(
    "type: review\n", "type: review\nwithdrawn: true\n")}


def as_of(settings: Settings) -> datetime:
    return datetime(2026, 9, 20, 9, tzinfo=settings.tz)


def withdrawn_at(session: Session) -> datetime | None:
    session.expire_all()
    return session.exec(select(Review).where(Review.slug == "adoption")).one().withdrawn_at


def planned_reviews(session: Session, issue_id: int) -> list[str]:
    return sorted(session.exec(select(Review.slug).join(
        IssueItem, col(IssueItem.item_id) == Review.id).where(
        IssueItem.issue_id == issue_id, IssueItem.kind == ItemKind.REVIEW)).all())


def draft_of_both_reviews(session: Session, tmp_path: Path, settings: Settings) -> int:
    """Sync the items (none withdrawn) and plan September's draft, committed: its id."""
    apply(session, write(tmp_path / "a", ITEMS), settings)
    planned = service.plan(session, settings, as_of(settings)).issue
    assert planned is not None and planned.id is not None
    session.commit()
    return planned.id


def test_the_flag_withdraws_and_its_removal_restores(session: Session, tmp_path: Path,
                                                     db_settings: Settings) -> None:
    first = apply(session, write(tmp_path / "a", WITHDRAWN), db_settings)
    assert first.withdrawn == ["adoption"] and first.restored == []
    when = withdrawn_at(session)
    assert when is not None
    again = apply(session, write(tmp_path / "a", WITHDRAWN), db_settings)
    assert again.withdrawn == [] and again.total(again.unchanged) == 5  # idempotent
    assert withdrawn_at(session) == when  # the moment it was withdrawn is kept
    back = apply(session, write(tmp_path / "b", ITEMS), db_settings)
    assert back.restored == ["adoption"] and back.total(back.updated) == 1
    assert withdrawn_at(session) is None
    later = apply(session, write(tmp_path / "a", WITHDRAWN), db_settings)
    assert later.withdrawn == ["adoption"] and withdrawn_at(session) is not None


@pytest.mark.parametrize("value", ["maybe", "[]", "2026-09-01"])
def test_a_flag_that_is_not_yes_or_no_is_refused_with_its_line(tmp_path: Path,
                                                               value: str) -> None:
    bad = GOOD | {"reviews/adoption.en.md": REVIEW_EN.replace(
        "type: review\n", f"type: review\nwithdrawn: {value}\n")}
    with pytest.raises(ContentInvalid) as refused:
        load_dir(write(tmp_path, bad))
    [error] = refused.value.errors
    assert error.field == "withdrawn" and error.line == 3, str(error)


def test_planning_skips_a_withdrawn_item(session: Session, tmp_path: Path,
                                         db_settings: Settings) -> None:
    apply(session, write(tmp_path, WITHDRAWN), db_settings)
    outcome = service.plan(session, db_settings, as_of(db_settings))
    assert outcome.issue is not None and outcome.issue.id is not None
    assert planned_reviews(session, outcome.issue.id) == ["second"]


def test_a_draft_carrying_an_item_withdrawn_later_fails_a_check_until_replanned(
        session: Session, tmp_path: Path, db_settings: Settings) -> None:
    issue_id = draft_of_both_reviews(session, tmp_path, db_settings)
    assert planned_reviews(session, issue_id) == ["adoption", "second"]
    site = db_settings.site_url

    def verdict() -> checks.Check:
        issue = service.get_issue(session, issue_id)
        return next(c for c in checks.issue_checks(session, issue, as_of(db_settings), site)
                    if c.name == "withdrawn")

    assert verdict().ok is True
    apply(session, write(tmp_path / "b", WITHDRAWN), db_settings)
    found = verdict()
    assert found.ok is False and found.facts == [{"kind": "review", "slug": "adoption"}]
    assert found.details == ["review adoption is withdrawn; replan to drop it"]
    service.replan(session, db_settings, service.get_issue(session, issue_id),
                   as_of(db_settings), actor="test")
    assert planned_reviews(session, issue_id) == ["second"] and verdict().ok is True


def test_a_draft_carrying_a_withdrawn_item_is_not_approved_even_with_a_reason(
        session: Session, tmp_path: Path, db_settings: Settings) -> None:
    issue_id = draft_of_both_reviews(session, tmp_path, db_settings)
    apply(session, write(tmp_path / "b", WITHDRAWN), db_settings)
    for reason in (None, "the editor insists"):
        with pytest.raises(lifecycle.WithdrawnItems, match=r"withdrawn item.*review adoption"):
            lifecycle.approve(session, service.get_issue(session, issue_id), "sian",
                              force_reason=reason)
        session.rollback()
        assert service.get_issue(session, issue_id).state is IssueState.DRAFT
    service.replan(session, db_settings, service.get_issue(session, issue_id),
                   as_of(db_settings), actor="test")
    lifecycle.approve(session, service.get_issue(session, issue_id), "sian")
    assert service.get_issue(session, issue_id).state is IssueState.APPROVED


def test_the_sync_command_names_what_it_withdrew_and_restored(
        tmp_path: Path, db_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"DIGEST_DATABASE_URL": db_settings.database_url,
           "DIGEST_VAR_DIR": str(tmp_path / "var")}
    said = []
    for name, files in (("a", WITHDRAWN), ("b", ITEMS)):
        result = CliRunner().invoke(app, ["content", "sync", str(write(tmp_path / name, files))],
                                    env=env)
        assert result.exit_code == 0, result.output
        said.append(" ".join(result.output.split()))
    assert "withdrawn adoption: no longer chosen for an issue, listed or shown" in said[0]
    assert "restored adoption: no longer withdrawn" in said[1] and "withdrawn" not in \
        said[1].replace("no longer withdrawn", "")
