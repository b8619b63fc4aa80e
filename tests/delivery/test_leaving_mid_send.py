"""Subscribers who leave while a send runs: once their unsubscribe (or bounce) commits, only a
message already on the wire can still reach them; their claimed rows are not sent.

The transport here is the in-memory adapter with a hook run while a message is "on the wire"
(inside `send`): it unsubscribes people through the real service, in its own transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.audience import self_service
from digest.delivery import outbox, outcomes, run
from digest.delivery.transports.base import Outcome, Outgoing, SendResult
from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.store.db import session_scope
from digest.store.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueState,
    Subscriber,
    SubscriberState,
)
from tests.factories import AS_OF, add_sample_content, add_subscribers, approved_issue

LEASE = timedelta(seconds=60)


@dataclass
class OnTheWire(MemoryTransport):
    """Calls `hook(n, message)` while the n-th message (from 1) is being delivered."""

    hook: Callable[[int, Outgoing], None] = lambda n, m: None
    count: int = field(default=0)

    def send(self, message: Outgoing) -> SendResult:
        self.count += 1
        self.hook(self.count, message)
        return super().send(message)


@pytest.fixture
def issue(session: Session, db_settings: Settings) -> Issue:
    add_sample_content(session)
    add_subscribers(session, per_language=10)  # 30 rows: one claim of 64 holds them all
    return approved_issue(session, db_settings)


def emails_by_id(session: Session) -> dict[int, str]:
    session.rollback()
    return {s.id or 0: s.email for s in session.exec(select(Subscriber))}


def states(session: Session, issue: Issue) -> dict[str, DeliveryState]:
    emails = emails_by_id(session)
    session.expire_all()
    return {emails[r.subscriber_id]: r.state
            for r in session.exec(select(Delivery).where(Delivery.issue_id == issue.id))}


def unsubscribe(engine: Engine, email: str) -> None:
    with session_scope(engine, write=True) as s:
        sub = s.exec(select(Subscriber).where(Subscriber.email == email)).one()
        self_service.unsubscribe(s, sub.id or 0)


def test_claimed_rows_of_people_who_unsubscribe_are_not_sent(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    leavers: list[str] = []

    def leave(n: int, message: Outgoing) -> None:
        if n == 3:  # every row is claimed by now; the later ones leave, and this one too
            order = [m.recipient for m in transport.sent] + [message.recipient]
            everyone = sorted(set(emails_by_id(session).values()) - set(order))
            leavers.extend([message.recipient, *everyone[::3]])
            for email in leavers:
                unsubscribe(engine, email)

    transport = OnTheWire(hook=leave)
    report = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
    mailed = [m.recipient for m in transport.sent]
    on_the_wire, later = leavers[0], leavers[1:]
    assert len(later) >= 8
    assert on_the_wire in mailed  # it was being delivered when the unsubscribe committed
    assert not set(later) & set(mailed)
    assert len(mailed) == len(set(mailed)) == 30 - len(later) == report.total_sent
    got = states(session, issue)
    assert got[on_the_wire] is DeliveryState.SENT  # the outbox says who was really mailed
    assert {got[e] for e in later} == {DeliveryState.SKIPPED}
    assert report.left.total == 0 and report.retry == 0 and report.failed == 0
    session.expire_all()
    assert session.get(Issue, issue.id).state is IssueState.SENT  # type: ignore[union-attr]


def test_the_bound_holds_on_every_connection(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    # Four workers; the sixth message on the wire unsubscribes everyone not yet handed over.
    everyone = set(emails_by_id(session).values())
    seen: set[str] = set()
    left: set[str] = set()
    lock = threading.Lock()

    def leave(n: int, message: Outgoing) -> None:
        with lock:
            seen.add(message.recipient)
            if len(seen) < 6 or left:
                return
            left.update(everyone - seen)
            for email in sorted(left):
                unsubscribe(engine, email)

    transport = OnTheWire(hook=leave)
    cfg = db_settings.model_copy(update={"batch_size": 5})
    report = run.send_issue(engine, cfg, issue.id or 0, lambda: transport, connections=4)
    mailed = {m.recipient for m in transport.sent}
    # Handed over after the unsubscribes committed: at most one message per other connection,
    # each of which had read its row again before the commit.
    late = mailed & left
    assert len(left) >= 20 and len(late) <= 3, late
    assert report.total_sent == len(transport.sent) == len(mailed)
    got = states(session, issue)
    assert {e for e, st in got.items() if st is DeliveryState.SENT} == mailed
    assert all(st is DeliveryState.SKIPPED for e, st in got.items() if e not in mailed)


def test_an_outcome_for_a_row_skipped_on_the_wire_only_records_an_acceptance(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    assert issue.id is not None
    outbox.create_deliveries(session, issue.id)
    session.commit()
    a, b, c, d = outbox.claim(engine, issue.id, "run-a", 4, AS_OF, LEASE)
    for claimed in (a, b, c):
        unsubscribe(engine, claimed.email)
    writer = outcomes.OutcomeWriter(engine, "run-a")
    other = outcomes.OutcomeWriter(engine, "run-b")
    policy = run.retry_policy(db_settings)
    try:
        gone = writer.write([
            outbox.Attempt(a, SendResult(Outcome.ACCEPTED, "250 ok"), "<a@x>", AS_OF),
            outbox.Attempt(b, SendResult(Outcome.TEMPORARY, "451 later"), "<b@x>", AS_OF),
            outbox.Attempt(c, SendResult(Outcome.PERMANENT, "550 gone"), "<c@x>", AS_OF),
        ], policy, [b.delivery_id, d.delivery_id])
        # Another run's outcome never lands on this run's skipped rows.
        other.write([outbox.Attempt(a, SendResult(Outcome.ACCEPTED, "250 x"), "<x@x>", AS_OF)],
                    policy)
    finally:
        writer.close()
        other.close()
    assert gone == {b.delivery_id}  # b was skipped since its claim, d is still ours
    got = states(session, issue)
    assert (got[a.email], got[b.email], got[c.email]) == (
        DeliveryState.SENT, DeliveryState.SKIPPED, DeliveryState.SKIPPED)
    stored = session.get(Delivery, a.delivery_id)
    assert stored is not None and stored.relay_reply == "250 ok" and stored.message_id == "<a@x>"
    left = session.get(Subscriber, c.subscriber_id)
    assert left is not None and left.state is SubscriberState.UNSUBSCRIBED  # not bounced


def test_a_bounce_skips_the_subscribers_rows_in_other_sends(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    assert issue.id is not None
    outbox.create_deliveries(session, issue.id)
    later = Issue(period="2026-10", cutoff_at=AS_OF, since_at=AS_OF, state=IssueState.SENDING)
    session.add(later)
    session.commit()
    first = outbox.claim(engine, issue.id, "run-a", 1, AS_OF, LEASE)[0]
    with engine.begin() as conn:
        conn.execute(sa.insert(Delivery.__table__), [  # type: ignore[attr-defined]
            {"issue_id": later.id, "subscriber_id": first.subscriber_id, "attempts": 0,
             "state": DeliveryState.PENDING}])
    second = outbox.claim(engine, later.id or 0, "run-b", 1, AS_OF, LEASE)[0]
    writer = outcomes.OutcomeWriter(engine, "run-a")
    try:
        writer.write([outbox.Attempt(first, SendResult(Outcome.PERMANENT, "550 no such user"),
                                     "<a@x>", AS_OF)], run.retry_policy(db_settings))
    finally:
        writer.close()
    session.expire_all()
    skipped = session.get(Delivery, second.delivery_id)
    assert skipped is not None and skipped.state is DeliveryState.SKIPPED
    assert skipped.last_error == "bounced"
    sub = session.get(Subscriber, first.subscriber_id)
    assert sub is not None and sub.state is SubscriberState.BOUNCED


def test_an_unsubscribe_finds_its_rows_through_an_index(engine: Engine) -> None:
    sql = str(outbox.STOP_ROWS.compile(dialect=engine.dialect))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # a tiny table: make the planner show it
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = conn.exec_driver_sql("EXPLAIN " + sql, {"reason": "x", "sid": 1}).all()
        else:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, ("x", 1)).all()
    assert any("ix_delivery_subscriber" in str(row) for row in plan), plan
