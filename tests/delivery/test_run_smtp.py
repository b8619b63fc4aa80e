"""Sending an issue through the SMTP adapter into a real server, on both databases."""

from __future__ import annotations

import threading
import time
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.delivery import outbox, run
from digest.delivery.transports import factory
from digest.settings import Settings
from digest.store.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueState,
    Subscriber,
    SubscriberState,
)
from tests.delivery.conftest import state_of
from tests.factories import AS_OF, add_sample_content, add_subscribers, approved_issue
from tests.smtp_server import SMTPServer


@pytest.fixture
def cfg(db_settings: Settings, smtp_server: SMTPServer) -> Settings:
    return db_settings.model_copy(update={**smtp_server.smtp_settings(),
                                          "retry_base_seconds": 0.05, "retry_max_seconds": 0.1,
                                          "claim_lease_seconds": 2})


@pytest.fixture
def issue(session: Session, cfg: Settings) -> Issue:
    add_sample_content(session)
    add_subscribers(session, per_language=4)
    return approved_issue(session, cfg)


def send(engine: Engine, cfg: Settings, issue: Issue, **kwargs: object) -> run.SendReport:
    return run.send_issue(engine, cfg, issue.id or 0, factory.transport_factory(cfg),
                              connections=4, **kwargs)  # type: ignore[arg-type]


def deliveries(session: Session, issue: Issue) -> dict[str, Delivery]:
    session.rollback()
    session.expire_all()
    subs = {s.id: s.email for s in session.exec(select(Subscriber))}
    rows = session.exec(select(Delivery).where(Delivery.issue_id == issue.id)).all()
    return {subs[r.subscriber_id]: r for r in rows}


def test_every_subscriber_gets_one_message_in_their_language(
        engine: Engine, session: Session, cfg: Settings, issue: Issue,
        smtp_server: SMTPServer) -> None:
    report = send(engine, cfg, issue)
    assert report.total_sent == 12 and report.left.total == 0
    counts = smtp_server.handler.per_recipient()
    assert len(counts) == 12 and set(counts.values()) == {1}
    for got in smtp_server.received:
        msg = message_from_bytes(got.data, policy=default)
        lang = got.rcpt.split("@")[0][:-1]
        assert msg["Content-Language"] == {"cy": "cy", "en": "en", "both": "cy, en"}[lang]
        assert msg["To"].addresses[0].addr_spec == got.rcpt
    rows = deliveries(session, issue)
    assert all(r.state is DeliveryState.SENT and r.relay_reply == "250 2.0.0 queued"
               and r.message_id for r in rows.values())
    assert state_of(session, issue) is IssueState.SENT
    assert smtp_server.handler.connections <= 4


def test_temporary_failures_are_retried_with_backoff(
        engine: Engine, session: Session, cfg: Settings, issue: Issue,
        smtp_server: SMTPServer) -> None:
    smtp_server.behaviour.rcpt_replies["cy1@example.org"] = ["451 4.7.1 greylisted"] * 2
    smtp_server.behaviour.drop_mid_data["en2@example.org"] = 1
    report = send(engine, cfg, issue, wait_for_retries=True)
    assert report.left.total == 0 and report.retry == 3
    assert smtp_server.handler.per_recipient()["cy1@example.org"] == 1
    assert smtp_server.handler.per_recipient()["en2@example.org"] == 1
    rows = deliveries(session, issue)
    assert rows["cy1@example.org"].attempts == 3 and rows["en2@example.org"].attempts == 2
    assert rows["cy1@example.org"].state is DeliveryState.SENT


def test_temporary_failures_stop_at_the_deadline(
        engine: Engine, session: Session, cfg: Settings, issue: Issue,
        smtp_server: SMTPServer) -> None:
    smtp_server.behaviour.rcpt_replies["cy1@example.org"] = ["451 4.7.1 try later"] * 1000
    short = cfg.model_copy(update={"retry_deadline_hours": 0.5 / 3600})  # half a second
    report = send(engine, short, issue, wait_for_retries=True)
    row = deliveries(session, issue)["cy1@example.org"]
    assert row.state is DeliveryState.FAILED and row.last_error is not None
    assert row.last_error.startswith("gave up after") and "451 4.7.1" in row.last_error
    assert 2 <= row.attempts < 50 and report.left.total == 0


def test_without_waiting_a_retry_is_left_for_the_next_run(
        engine: Engine, session: Session, cfg: Settings, issue: Issue,
        smtp_server: SMTPServer) -> None:
    smtp_server.behaviour.rcpt_replies["cy1@example.org"] = ["452 4.2.2 mailbox full"]
    slow = cfg.model_copy(update={"retry_base_seconds": 3600, "retry_max_seconds": 7200})
    report = send(engine, slow, issue)
    assert report.left.retry_later == 1 and report.left.next_retry_at is not None
    assert state_of(session, issue) is IssueState.SENDING


def test_permanent_failure_bounces_the_subscriber(
        engine: Engine, session: Session, cfg: Settings, issue: Issue,
        smtp_server: SMTPServer) -> None:
    smtp_server.behaviour.rcpt_replies["en0@example.org"] = ["550 5.1.1 no such user"]
    report = send(engine, cfg, issue)
    assert report.failed == 1 and report.total_sent == 11
    row = deliveries(session, issue)["en0@example.org"]
    assert row.state is DeliveryState.FAILED and row.last_error == "550 5.1.1 no such user"
    sub = session.exec(select(Subscriber).where(Subscriber.email == "en0@example.org")).one()
    assert sub.state is SubscriberState.BOUNCED
    with Session(engine) as other:  # no more mail to them: not in the next outbox
        nxt = Issue(period="2026-10", cutoff_at=AS_OF, since_at=AS_OF, state=IssueState.DRAFT)
        other.add(nxt)
        other.flush()
        assert outbox.create_deliveries(other, nxt.id or 0) == 11
        other.rollback()


def test_redirect_sends_everything_to_one_address(
        engine: Engine, cfg: Settings, issue: Issue, smtp_server: SMTPServer) -> None:
    staging = cfg.model_copy(update={"redirect_all_to": "qa@example.org"})
    send(engine, staging, issue)
    assert set(smtp_server.handler.per_recipient()) == {"qa@example.org"}
    originals = {message_from_bytes(r.data, policy=default)["X-Digest-Original-To"]
                 for r in smtp_server.received}
    assert len(originals) == 12 and "cy0@example.org" in originals


def test_a_stop_finishes_in_flight_and_leaves_the_issue_resumable(
        engine: Engine, session: Session, cfg: Settings, issue: Issue,
        smtp_server: SMTPServer) -> None:
    smtp_server.behaviour.delay = 0.2
    stop = threading.Event()

    def stop_after_the_first_message() -> None:
        # Keyed to the server's first acceptance, not a clock, so a slow machine stops at the
        # same point: the connections' other messages are then still in flight.
        while not smtp_server.received and not stop.is_set():
            time.sleep(0.002)
        stop.set()

    stopper = threading.Thread(target=stop_after_the_first_message)
    stopper.start()
    first = send(engine, cfg, issue, stop=stop)
    stop.set()
    stopper.join()
    assert first.stopped and 0 < first.total_sent < 12
    rows = deliveries(session, issue)
    assert not [r for r in rows.values() if r.state is DeliveryState.SENDING]
    assert len(smtp_server.received) == first.total_sent  # nothing accepted but unrecorded
    smtp_server.behaviour.delay = 0
    second = send(engine, cfg, issue)
    assert first.total_sent + second.total_sent == 12
    assert set(smtp_server.handler.per_recipient().values()) == {1}
