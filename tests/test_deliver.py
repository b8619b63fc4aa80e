"""The outbox on both databases: one row per (issue, subscriber), sent only when accepted."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest import deliver, issues
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


@pytest.fixture
def issue(session: Session, db_settings: Settings) -> Issue:
    add_sample_content(session)
    add_subscribers(session, per_language=3)
    session.add(Subscriber(email="gone@example.org", language=Language.EN,
                           state=SubscriberState.UNSUBSCRIBED))
    session.add(Subscriber(email="new@example.org", language=Language.CY,
                           state=SubscriberState.PENDING))
    outcome = issues.plan(session, db_settings, AS_OF)
    session.commit()
    assert outcome.issue is not None
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
    assert deliver.create_deliveries(session, issue.id) == 9
    assert deliver.create_deliveries(session, issue.id) == 0
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
    report = deliver.send_issue(engine, db_settings, issue.period, transport)
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
    again = deliver.send_issue(engine, db_settings, issue.period, transport)
    assert again.created == 0 and sum(again.sent.values()) == 0 and len(transport.sent) == 9


def test_relay_refusals_are_recorded_not_raised(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    transport = MemoryTransport(script={
        "cy0@example.org": SendResult(Outcome.PERMANENT, "550 5.1.1 no such user"),
        "en1@example.org": SendResult(Outcome.TEMPORARY, "451 4.7.1 try later"),
    })
    report = deliver.send_issue(engine, db_settings, issue.period, transport)
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
    report = deliver.send_issue(engine, db_settings, issue.period, transport,
                                clock=lambda: later)
    assert sum(report.sent.values()) == 1
    assert state_of(session, issue) is IssueState.SENT


def test_subscriber_who_leaves_after_rows_exist_is_skipped(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    assert issue.id is not None
    deliver.create_deliveries(session, issue.id)
    leaver = session.exec(select(Subscriber).where(Subscriber.email == "en0@example.org")).one()
    leaver.state = SubscriberState.UNSUBSCRIBED
    session.commit()
    transport = MemoryTransport()
    report = deliver.send_issue(engine, db_settings, issue.period, transport)
    assert report.skipped == 1 and "en0@example.org" not in {m.recipient for m in transport.sent}


def test_a_stale_claim_is_sent_after_the_lease_and_a_fresh_one_is_not(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    assert issue.id is not None
    deliver.create_deliveries(session, issue.id)
    session.commit()
    # A worker claimed a batch and died before recording anything.
    claimed = deliver.claim_batch(engine, issue.id, 4, AS_OF)
    assert len(claimed) == 4
    transport = MemoryTransport()
    soon = deliver.send_issue(engine, db_settings, issue.period, transport,
                              clock=lambda: AS_OF + timedelta(minutes=1))
    assert sum(soon.sent.values()) == 5  # the 4 in flight are left to their worker
    late = deliver.send_issue(engine, db_settings, issue.period, transport,
                              clock=lambda: AS_OF + deliver.LEASE + timedelta(minutes=1))
    assert sum(late.sent.values()) == 4
    assert len({m.recipient for m in transport.sent}) == len(transport.sent) == 9


def test_file_transport_writes_one_eml_per_message(
        engine: Engine, db_settings: Settings, issue: Issue, tmp_path: Path) -> None:
    out = tmp_path / "outbox"
    deliver.send_issue(engine, db_settings, issue.period, FileTransport(out))
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
        deliver.send_issue(engine, db_settings, issue.period, MemoryTransport())
