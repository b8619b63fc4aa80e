"""The outbox on both databases: one row per (issue, subscriber), sent only when accepted."""

from __future__ import annotations

from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest import deliver, issues, lifecycle, outbox
from digest.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueState,
    Language,
    Subscriber,
    SubscriberState,
)
from digest.settings import Settings
from digest.transport import FileTransport, MemoryTransport, Outcome, SendResult
from tests.factories import AS_OF, add_sample_content, add_subscribers

LEASE = timedelta(seconds=60)  # the default claim_lease_seconds


@pytest.fixture
def issue(session: Session, db_settings: Settings) -> Issue:
    add_sample_content(session)
    add_subscribers(session, per_language=3)
    session.add(Subscriber(email="gone@example.org", language=Language.EN,
                           state=SubscriberState.UNSUBSCRIBED))
    session.add(Subscriber(email="new@example.org", language=Language.CY,
                           state=SubscriberState.PENDING))
    outcome = issues.plan(session, db_settings, AS_OF)
    assert outcome.issue is not None
    lifecycle.approve(session, outcome.issue, "test")
    session.commit()
    return outcome.issue


def state_of(session: Session, issue: Issue) -> IssueState:
    session.rollback()  # end the read snapshot: other connections have written
    session.expire_all()
    row = session.get(Issue, issue.id)
    assert row is not None
    return row.state


def rows(session: Session, issue: Issue) -> list[Delivery]:
    session.rollback()  # end the read snapshot: other connections have written
    session.expire_all()
    return list(session.exec(select(Delivery).where(Delivery.issue_id == issue.id)))


def test_delivery_rows_only_for_active_subscribers_and_only_once(
        session: Session, issue: Issue) -> None:
    assert issue.id is not None
    assert outbox.create_deliveries(session, issue.id) == 9
    assert outbox.create_deliveries(session, issue.id) == 0
    session.commit()
    assert len(rows(session, issue)) == 9
    with pytest.raises(sa.exc.IntegrityError):  # the database itself refuses a duplicate
        session.add(Delivery(issue_id=issue.id, subscriber_id=rows(session, issue)[0].subscriber_id,
                             state=DeliveryState.PENDING))
        session.commit()
    session.rollback()


def test_send_delivers_each_subscriber_once_in_their_language(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    transport = MemoryTransport()
    report = deliver.send_issue(engine, db_settings, issue.period, lambda: transport)
    assert report.created == 9 and sum(report.sent.values()) == 9
    assert report.sent == {"cy": 3, "en": 3, "both": 3}
    by_rcpt = {m.recipient: message_from_bytes(m.data, policy=default) for m in transport.sent}
    assert len(by_rcpt) == 9
    for email, msg in by_rcpt.items():
        lang = email.split("@")[0][:-1]
        assert msg["Content-Language"] == {"cy": "cy", "en": "en", "both": "cy, en"}[lang]
    done = rows(session, issue)
    assert {r.state for r in done} == {DeliveryState.SENT}
    assert all(r.message_id and r.sent_at and r.relay_reply for r in done)
    assert state_of(session, issue) is IssueState.SENT
    again = deliver.send_issue(engine, db_settings, issue.period, lambda: transport)
    assert again.created == 0 and sum(again.sent.values()) == 0 and len(transport.sent) == 9


def test_relay_refusals_are_recorded_not_raised(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    transport = MemoryTransport(script={
        "cy0@example.org": SendResult(Outcome.PERMANENT, "550 5.1.1 no such user"),
        "en1@example.org": SendResult(Outcome.TEMPORARY, "451 4.7.1 try later"),
    })
    report = deliver.send_issue(engine, db_settings, issue.period, lambda: transport)
    assert (report.failed, report.retry, sum(report.sent.values())) == (1, 1, 7)
    states = {r.subscriber_id: r for r in rows(session, issue)}
    subs = {s.email: s.id for s in session.exec(select(Subscriber))}
    failed = states[subs["cy0@example.org"]]
    assert failed.state is DeliveryState.FAILED and failed.last_error == "550 5.1.1 no such user"
    retry = states[subs["en1@example.org"]]
    assert retry.state is DeliveryState.RETRY and retry.next_attempt_at is not None
    assert state_of(session, issue) is IssueState.SENDING
    # Once the retry is due and the relay accepts, the issue completes.
    transport.script.clear()
    later = retry.next_attempt_at + timedelta(seconds=1)
    report = deliver.send_issue(engine, db_settings, issue.period, lambda: transport,
                                clock=lambda: later)
    assert sum(report.sent.values()) == 1
    assert state_of(session, issue) is IssueState.SENT


def test_subscriber_who_leaves_after_rows_exist_is_skipped(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    assert issue.id is not None
    outbox.create_deliveries(session, issue.id)
    leaver = session.exec(select(Subscriber).where(Subscriber.email == "en0@example.org")).one()
    leaver.state = SubscriberState.UNSUBSCRIBED
    session.commit()
    transport = MemoryTransport()
    report = deliver.send_issue(engine, db_settings, issue.period, lambda: transport)
    assert report.total_sent == 8
    assert "en0@example.org" not in {m.recipient for m in transport.sent}
    skipped = [r for r in rows(session, issue) if r.state is DeliveryState.SKIPPED]
    assert [r.subscriber_id for r in skipped] == [leaver.id]
    assert state_of(session, issue) is IssueState.SENT


class TickingClock:
    """A fake clock that moves five seconds each time it is read."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=5)
        return self.now


def test_a_dead_runs_claims_are_sent_once_their_lease_expires(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    assert issue.id is not None
    outbox.create_deliveries(session, issue.id)
    session.commit()
    # A sender claimed four rows and died before sending anything.
    claimed = outbox.claim(engine, issue.id, "dead-run", 4, AS_OF, LEASE)
    assert len(claimed) == 4
    transport = MemoryTransport()
    clock = TickingClock(AS_OF)
    report = deliver.send_issue(engine, db_settings, issue.period, lambda: transport,
                                clock=clock)
    assert report.total_sent == 9 and report.left.total == 0
    assert len({m.recipient for m in transport.sent}) == len(transport.sent) == 9
    dead = {c.delivery_id for c in claimed}
    for row in rows(session, issue):
        assert row.sent_at is not None and row.state is DeliveryState.SENT
        if row.id in dead:  # not taken over before the lease ran out
            assert row.sent_at >= AS_OF + LEASE


def test_file_transport_writes_one_eml_per_message(
        engine: Engine, db_settings: Settings, issue: Issue, tmp_path: Path) -> None:
    out = tmp_path / "outbox"
    files = FileTransport(out)
    deliver.send_issue(engine, db_settings, issue.period, lambda: files)
    files = sorted(out.glob("*.eml"))
    assert len(files) == 9 and not list(out.glob("*.tmp"))
    first = message_from_bytes(files[0].read_bytes(), policy=default)
    assert files[0].name == first["Message-ID"].strip("<>").split("@")[0] + ".eml"


def test_cancelled_issue_cannot_be_sent(engine: Engine, session: Session,
                                        db_settings: Settings, issue: Issue) -> None:
    issue.state = IssueState.CANCELLED
    session.add(issue)
    session.commit()
    with pytest.raises(ValueError, match="cancelled"):
        deliver.send_issue(engine, db_settings, issue.period, MemoryTransport)
