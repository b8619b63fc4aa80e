"""Issue lifecycle on both databases: transitions, translation check, replan, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from digest.issue import lifecycle, service
from digest.settings import Settings
from digest.store.models import Issue, IssueAction, IssueItem, IssueState, Language, Review
from tests.factories import AS_OF, add_review


def test_approve_then_cancel_records_who_and_when(session: Session, draft: Issue) -> None:
    assert lifecycle.approve(session, draft, "Siân") == []
    assert draft.state is IssueState.APPROVED
    lifecycle.cancel(session, draft, "Dafydd", "merged into October")
    session.commit()
    events = lifecycle.history(session, draft)
    assert [(e.actor, e.action) for e in events] == [
        ("scheduler", "planned"), ("Siân", "approved"), ("Dafydd", "cancelled")]
    assert events[-1].detail == "merged into October"


@pytest.mark.parametrize(("start", "to"), [
    (IssueState.DRAFT, IssueState.SENT),
    (IssueState.SENT, IssueState.CANCELLED),
    (IssueState.CANCELLED, IssueState.APPROVED),
    (IssueState.SKIPPED, IssueState.DRAFT),
    (IssueState.SENDING, IssueState.DRAFT),
])
def test_invalid_transitions_are_refused(session: Session, draft: Issue, start: IssueState,
                                         to: IssueState) -> None:
    draft.state = start
    session.add(draft)
    session.commit()
    with pytest.raises(lifecycle.TransitionError):
        lifecycle.move(session, draft, to)


def test_a_transition_taken_elsewhere_is_not_taken_twice(engine: Engine, session: Session,
                                                        draft: Issue) -> None:
    with Session(engine) as other:
        copy = other.get(Issue, draft.id)
        assert copy is not None
        assert lifecycle.move(other, copy, IssueState.APPROVED)
        other.commit()
    # This session still holds the issue as a draft; the conditional update finds it is not.
    assert draft.state is IssueState.DRAFT
    assert not lifecycle.move(session, draft, IssueState.APPROVED)
    # refreshed to what the database says (mypy cannot know that move() reloads the object)
    assert draft.state is IssueState.APPROVED  # type: ignore[comparison-overlap]


def test_translation_check_blocks_approval_unless_forced_with_a_reason(
        session: Session, db_settings: Settings) -> None:
    add_review(session, "english-only", AS_OF - timedelta(days=2), welsh=False)
    issue = service.plan(session, db_settings, AS_OF).issue
    assert issue is not None
    problems = lifecycle.check_translations(session, issue)
    assert problems == ["review english-only: no Welsh title",
                        "review english-only: no Welsh teaser"]
    with pytest.raises(lifecycle.TranslationCheckFailed):
        lifecycle.approve(session, issue, "Siân")
    assert issue.state is IssueState.DRAFT
    lifecycle.approve(session, issue, "Siân", force_reason="translator ill; Welsh next month")
    session.commit()
    last = lifecycle.history(session, issue)[-1]
    assert last.action == IssueAction.FORCE_APPROVED.value
    assert last.detail is not None and "translator ill" in last.detail
    assert "no Welsh title" in last.detail


def test_replan_reselects_items_and_re_renders_a_draft(session: Session, db_settings: Settings,
                                                       draft: Issue) -> None:
    add_review(session, "late-arrival", AS_OF + timedelta(days=1), title="Late arrival")
    session.commit()
    result = service.replan(session, db_settings, draft, AS_OF + timedelta(days=2), "Siân")
    session.commit()
    assert len(result.reviews) == 4 and draft.cutoff_at == AS_OF + timedelta(days=2)
    items = session.exec(select(IssueItem).where(IssueItem.issue_id == draft.id)).all()
    assert len(items) == 7
    assert "Late arrival" in service.variants(session, draft)[Language.EN].html
    assert lifecycle.history(session, draft)[-1].action == "replanned"


def test_replan_refuses_non_drafts_and_other_periods(session: Session, db_settings: Settings,
                                                     draft: Issue) -> None:
    with pytest.raises(ValueError, match="not in 2026-09"):
        service.replan(session, db_settings, draft, datetime(2026, 10, 5, tzinfo=UTC), "x")
    lifecycle.approve(session, draft, "Siân")
    with pytest.raises(lifecycle.TransitionError):
        service.replan(session, db_settings, draft, AS_OF, "x")


def test_content_edits_do_not_change_an_approved_issue(session: Session, db_settings: Settings,
                                                       draft: Issue) -> None:
    lifecycle.approve(session, draft, "Siân")
    review = session.exec(select(Review).where(Review.slug == "alpha")).one()
    review.title_en = "Edited after approval"
    session.commit()
    assert "Edited after approval" not in service.variants(session, draft)[Language.EN].html


def test_skipped_period_is_recorded_once(session: Session, db_settings: Settings) -> None:
    first = service.plan(session, db_settings, AS_OF, actor="scheduler", record_skip=True)
    session.commit()
    assert first.issue is not None and first.issue.state is IssueState.SKIPPED
    assert "period skipped" in first.message
    add_review(session, "too-late", AS_OF + timedelta(hours=1))
    again = service.plan(session, db_settings, AS_OF + timedelta(hours=2), record_skip=True)
    assert not again.created and again.issue is not None and again.issue.id == first.issue.id


def test_issue_list_counts(session: Session, draft: Issue) -> None:
    rows = service.list_issues(session)
    assert [(r.period, r.state, r.items, r.sent) for r in rows] == [("2026-09", "draft", 6, 0)]
    assert rows[0].send_after == "2026-09-07 23:00 UTC"  # midnight in Cardiff, the next day


def _set_state(session: Session, issue: Issue, state: IssueState) -> None:
    issue.state = state
    session.add(issue)
    session.commit()


@pytest.mark.parametrize("state", [IssueState.APPROVED, IssueState.SENDING, IssueState.SENT,
                                   IssueState.CANCELLED])
def test_approval_of_an_issue_not_a_draft_names_its_state_even_with_translation_gaps(
        session: Session, db_settings: Settings, state: IssueState) -> None:
    add_review(session, "english-only", AS_OF - timedelta(days=2), welsh=False)
    issue = service.plan(session, db_settings, AS_OF).issue
    assert issue is not None
    _set_state(session, issue, state)
    for force in (None, "a reason"):  # the state is the reason, not the translation check
        with pytest.raises(lifecycle.TransitionError) as refused:
            lifecycle.approve(session, issue, "Siân", force_reason=force)
        assert not isinstance(refused.value, lifecycle.TranslationCheckFailed)
        assert str(refused.value) == (f"issue 2026-09 is {state.value}; only a draft can be "
                                      "approved")
    session.rollback()
    assert session.get(Issue, issue.id).state is state  # type: ignore[union-attr]
    assert [e.action for e in lifecycle.history(session, issue)] == ["planned"]


@pytest.mark.parametrize(("state", "to", "line"), [
    (IssueState.SENT, IssueState.CANCELLED,
     "is sent; only a draft or an approved issue can be cancelled"),
    (IssueState.DRAFT, IssueState.SENDING, "is draft; only an approved issue can be sent; "
                                           "approve it first"),
    (IssueState.CANCELLED, IssueState.SENDING, "is cancelled; only an approved issue can be sent"),
    (IssueState.DRAFT, IssueState.SENT, "is draft; only an issue being sent can be marked sent"),
    (IssueState.SKIPPED, IssueState.APPROVED, "is skipped; only a draft can be approved"),
])
def test_require_transition_names_the_state_and_what_may_take_the_step(
        session: Session, draft: Issue, state: IssueState, to: IssueState, line: str) -> None:
    _set_state(session, draft, state)
    with pytest.raises(lifecycle.TransitionError, match=f"^issue 2026-09 {line}$"):
        lifecycle.require_transition(draft, to)
    with pytest.raises(lifecycle.TransitionError, match=f"^issue 2026-09 {line}$"):
        lifecycle.move(session, draft, to)
    refusal = lifecycle.can_start_sending(draft)
    assert refusal is not None and refusal.startswith(f"issue 2026-09 is {state.value}; ")


def test_cancelling_a_cancelled_issue_names_its_state(session: Session, draft: Issue) -> None:
    lifecycle.cancel(session, draft, "Siân", "merged")
    session.commit()
    with pytest.raises(lifecycle.TransitionError, match="is cancelled; only a draft or an "
                                                        "approved issue can be cancelled"):
        lifecycle.cancel(session, draft, "Siân", "again")


def _frozen(session: Session, issue: Issue) -> tuple[object, ...]:
    """What a replan would change: the items, the window, the variants, the history."""
    session.rollback()
    items = session.exec(select(IssueItem).where(IssueItem.issue_id == issue.id)
                         .order_by(col(IssueItem.position))).all()
    return ([(i.kind, i.item_id, i.position) for i in items], issue.since_at, issue.cutoff_at,
            {lang: (v.subject, v.html) for lang, v in service.variants(session, issue).items()},
            [e.action for e in lifecycle.history(session, issue)])


@pytest.mark.parametrize("minimum", [7, 1000])
def test_a_replan_to_fewer_new_items_than_the_minimum_is_refused_and_changes_nothing(
        session: Session, db_settings: Settings, draft: Issue, minimum: int) -> None:
    before = _frozen(session, draft)
    strict = db_settings.model_copy(update={"min_new_items": minimum})
    with pytest.raises(service.NothingNew) as refused:
        service.replan(session, strict, draft, AS_OF + timedelta(days=1), "Siân")
    assert str(refused.value) == (
        f"nothing new for 2026-09 as of 2026-09-08 09:00 Europe/London: 6 new item(s), minimum "
        f"{minimum}; the issue is unchanged")
    assert _frozen(session, draft) == before


def test_a_replan_out_of_the_month_names_the_moment_as_the_editor_gave_it(
        session: Session, db_settings: Settings, draft: Issue) -> None:
    with pytest.raises(ValueError) as refused:
        service.replan(session, db_settings, draft, datetime(2026, 9, 30, 23, 30, tzinfo=UTC),
                       "x")
    assert str(refused.value) == ("2026-10-01 00:30 Europe/London is not in 2026-09; an issue "
                                  "is replanned only as of a moment in its own month")


def test_an_issue_with_no_items_is_not_approved_even_when_forced(
        session: Session, draft: Issue) -> None:
    for item in session.exec(select(IssueItem).where(IssueItem.issue_id == draft.id)).all():
        session.delete(item)
    session.commit()
    for force in (None, "approve it anyway"):
        with pytest.raises(lifecycle.EmptyIssue, match=r"^issue 2026-09 has no items; nothing "
                                                       "to approve"):
            lifecycle.approve(session, draft, "Siân", force_reason=force)
        session.rollback()
        assert draft.state is IssueState.DRAFT
    assert [e.action for e in lifecycle.history(session, draft)] == ["planned"]
