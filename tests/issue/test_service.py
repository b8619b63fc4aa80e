"""Planning an issue against the store (both databases): idempotence, freezing, nothing new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from digest.issue import service
from digest.settings import Settings
from digest.store.models import Issue, IssueItem, IssueState, ItemKind, Language, Review
from tests.factories import AS_OF, add_review


def test_plan_freezes_the_selected_items_in_order(session: Session, draft: Issue) -> None:
    rows = session.exec(select(IssueItem).where(IssueItem.issue_id == draft.id)
                        .order_by(IssueItem.position)).all()  # type: ignore[arg-type]
    kinds = [r.kind for r in rows]
    assert kinds == [ItemKind.REVIEW] * 3 + [ItemKind.SEMINAR] * 2 + [ItemKind.NEWS]
    assert draft.period == "2026-09" and draft.state is IssueState.DRAFT
    assert draft.cutoff_at == AS_OF


def test_plan_renders_three_variants(session: Session, draft: Issue) -> None:
    stored = service.variants(session, draft)
    assert set(stored) == set(Language)
    assert "Medi 2026" in stored[Language.CY].subject
    assert "September 2026" in stored[Language.EN].subject
    assert stored[Language.BOTH].html.startswith("<!doctype html>")


def test_planning_the_same_period_twice_returns_the_same_issue(
        session: Session, db_settings: Settings, draft: Issue) -> None:
    add_review(session, "late", AS_OF - timedelta(hours=1))
    again = service.plan(session, db_settings, AS_OF + timedelta(days=3))
    session.commit()
    assert not again.created and again.issue is not None and again.issue.id == draft.id
    assert "already exists" in again.message
    assert len(session.exec(select(Issue)).all()) == 1
    count = len(session.exec(select(IssueItem).where(IssueItem.issue_id == draft.id)).all())
    assert count == 6  # the frozen list did not grow


def test_next_issue_takes_only_what_is_new(session: Session, db_settings: Settings,
                                           draft: Issue) -> None:
    add_review(session, "october", datetime(2026, 9, 20, tzinfo=UTC))
    nxt = service.plan(session, db_settings, datetime(2026, 10, 5, 8, tzinfo=UTC))
    session.commit()
    assert nxt.created and nxt.plan is not None
    assert len(nxt.plan.reviews) == 1 and nxt.plan.since_at == draft.cutoff_at
    assert len(nxt.plan.seminars) == 1  # the October seminar is still coming up


def test_nothing_new_makes_no_issue(session: Session, db_settings: Settings) -> None:
    add_review(session, "ancient", datetime(2025, 1, 1, tzinfo=UTC))
    outcome = service.plan(session, db_settings, AS_OF)
    session.commit()
    assert outcome.issue is None and not outcome.created
    assert "nothing new" in outcome.message
    assert session.exec(select(Issue)).all() == []


def test_get_issue_by_id_or_period(session: Session, draft: Issue) -> None:
    assert service.get_issue(session, "2026-09").id == draft.id
    assert service.get_issue(session, str(draft.id)).period == "2026-09"
    with pytest.raises(service.IssueNotFound):
        service.get_issue(session, "1999-01")
    # No database error either: a lone surrogate (a byte in argv that is not UTF-8) and NUL
    # were an internal error at the query (exit 70 from `digest report issue`, `issue show`).
    for odd in ("99999999999999999999999", "¹", "١", "0", 2**40, "\udcff", "2026-09\x00",
                "2026-09\x1b"):
        with pytest.raises(service.IssueNotFound):
            service.get_issue(session, odd)


def test_preview_writes_html_and_text(session: Session, draft: Issue, tmp_path: Path) -> None:
    html, text = service.write_preview(session, draft, Language.CY, tmp_path)
    assert html.read_text(encoding="utf-8").startswith("<!doctype html>")
    body = text.read_text(encoding="utf-8")
    assert body.startswith("Subject: Crynodeb Ymchwil Gwaith Cymdeithasol: Medi 2026")
    assert "Adolygiad alpha ŵ" in body


def test_only_drafts_are_re_rendered(session: Session, db_settings: Settings,
                                     draft: Issue) -> None:
    draft.state = IssueState.SENT
    session.add(draft)
    session.commit()
    with pytest.raises(ValueError, match="only a draft"):
        service.render_issue(session, db_settings, draft)


def test_describe_gives_what_issue_show_prints(session: Session, db_settings: Settings,
                                               draft: Issue) -> None:
    alpha = session.exec(select(Review).where(Review.slug == "alpha")).one()
    alpha.title_cy = None
    session.commit()
    summary = service.describe(session, db_settings, draft)
    assert (summary.id, summary.period, summary.state) == (draft.id, "2026-09", IssueState.DRAFT)
    assert (summary.since_at, summary.cutoff_at) == (draft.since_at, draft.cutoff_at)
    stored = service.variants(session, draft)
    assert summary.variants == [
        service.VariantGlance(lang, stored[lang].subject, stored[lang].preheader,
                              len(stored[lang].html.encode()))
        for lang in (Language.BOTH, Language.CY, Language.EN)]
    assert [i.kind for i in summary.items] == [ItemKind.REVIEW] * 3 + [ItemKind.SEMINAR] * 2 + [
        ItemKind.NEWS]
    assert summary.items[-1] == service.ItemTitles(ItemKind.NEWS, "launch",
                                                   "Newyddion launch", "News launch")
    assert summary.problems == ["review alpha: no Welsh title"]
    assert [(e.actor, e.action) for e in summary.history] == [("scheduler", "planned")]
