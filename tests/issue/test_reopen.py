"""An item withdrawn after its issue was approved: the first send is refused (nothing
written, nothing sent), a send under way is finished as it began, and `reopen` takes the
approved issue back to draft so that it can be replanned and approved again."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from digest.delivery import run
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import lifecycle, service
from digest.settings import Settings
from digest.store.models import (
    Delivery,
    Issue,
    IssueAction,
    IssueEvent,
    IssueItem,
    IssueState,
    ItemKind,
    Review,
    now_utc,
)
from tests.factories import AS_OF, add_sample_content, add_subscribers, approved_issue


def withdraw_a_review(session: Session, issue_id: int) -> str:
    """Mark the issue's first review withdrawn (as a sync would), committed: its slug."""
    first = session.exec(select(IssueItem).where(IssueItem.issue_id == issue_id,
                                                 IssueItem.kind == ItemKind.REVIEW)
                         .order_by(col(IssueItem.position))).first()
    assert first is not None
    review = session.get(Review, first.item_id)
    assert review is not None
    review.withdrawn_at = now_utc()
    session.add(review)
    session.commit()
    return review.slug


def footprint(session: Session, issue_id: int) -> tuple[object, ...]:
    """The issue's state, its outbox rows and its history, as the database holds them."""
    session.rollback()
    issue = session.get(Issue, issue_id)
    assert issue is not None
    session.refresh(issue)
    rows = session.exec(select(func.count()).select_from(Delivery)
                        .where(Delivery.issue_id == issue_id)).one()
    events = session.exec(select(IssueEvent.action).where(IssueEvent.issue_id == issue_id)
                          .order_by(col(IssueEvent.id))).all()
    return issue.state, rows, list(events)


@pytest.fixture
def approved(session: Session, db_settings: Settings) -> Issue:
    """September's issue, approved; six subscribers."""
    add_sample_content(session)
    add_subscribers(session, per_language=2)
    return approved_issue(session, db_settings)


def test_the_first_send_of_an_approved_issue_with_a_withdrawn_item_is_refused(
        engine: Engine, session: Session, db_settings: Settings, approved: Issue) -> None:
    slug = withdraw_a_review(session, approved.id or 0)
    iid = approved.id or 0
    before = footprint(session, iid)
    transport = MemoryTransport()
    with pytest.raises(lifecycle.WithdrawnItems) as refused:
        run.send_issue(engine, db_settings, iid, lambda: transport)
    assert str(refused.value) == (
        f"issue {approved.period} carries withdrawn item(s): review {slug}; nothing was "
        f"sent; reopen it (digest issue reopen {approved.period} --reason ...), replan it "
        "and approve it again, or cancel it")
    assert footprint(session, iid) == before and before[:2] == (IssueState.APPROVED, 0)
    assert transport.sent == []


def test_a_send_under_way_is_finished_although_an_item_was_withdrawn_since(
        engine: Engine, session: Session, db_settings: Settings, approved: Issue) -> None:
    """Half the list has it already: stopping would leave the issue half sent for good."""
    iid = approved.id or 0
    run.prepare_issue(engine, iid, "test")  # started: outbox made, marked sending
    withdraw_a_review(session, approved.id or 0)
    transport = MemoryTransport()
    report = run.send_issue(engine, db_settings, iid, lambda: transport)
    assert report.total_sent == 6 and len(transport.sent) == 6
    assert footprint(session, iid)[0] is IssueState.SENT


def test_reopen_replan_and_approve_again_sends_without_the_withdrawn_item(
        engine: Engine, session: Session, db_settings: Settings, approved: Issue) -> None:
    slug = withdraw_a_review(session, approved.id or 0)
    issue = service.get_issue(session, approved.id or 0)
    lifecycle.reopen(session, issue, "sian", "a review was retracted")
    session.commit()
    assert issue.state is IssueState.DRAFT
    event = session.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id)
                         .order_by(col(IssueEvent.id).desc())).first()
    assert event is not None
    assert (event.action, event.actor, event.detail) == (
        IssueAction.REOPENED, "sian", "a review was retracted")
    with pytest.raises(lifecycle.WithdrawnItems):  # a reopened draft is approved like any
        lifecycle.approve(session, issue, "sian")
    session.rollback()
    service.replan(session, db_settings, issue, AS_OF, actor="sian")
    lifecycle.approve(session, issue, "sian")
    session.commit()
    transport = MemoryTransport()
    report = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
    assert report.total_sent == 6
    assert all(slug.encode() not in m.data for m in transport.sent)


@pytest.mark.parametrize("state", [IssueState.DRAFT, IssueState.SENDING, IssueState.SENT,
                                   IssueState.CANCELLED, IssueState.SKIPPED])
def test_only_an_approved_issue_is_reopened_and_the_refusal_names_the_state(
        session: Session, approved: Issue, state: IssueState) -> None:
    issue = service.get_issue(session, approved.id or 0)
    issue.state = state
    session.add(issue)
    session.commit()
    before = footprint(session, issue.id or 0)
    with pytest.raises(lifecycle.TransitionError) as refused:
        lifecycle.reopen(session, service.get_issue(session, issue.id or 0), "sian", "why")
    assert str(refused.value) == (f"issue {issue.period} is {state.value}; only an approved "
                                  "issue can be reopened")
    assert footprint(session, issue.id or 0) == before
