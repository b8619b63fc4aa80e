"""The whole loop, on SQLite and PostgreSQL: send an issue through a relay that returns a
hard bounce, a complaint, a delay and an out-of-office into the real Dovecot mailbox, poll
it, then plan and send the next issue: the bounced and the complainer get nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.bounces import intake, service
from digest.delivery import run
from digest.delivery.transports import factory
from digest.issue import lifecycle
from digest.issue import service as issues
from digest.settings import Settings
from digest.store.models import FeedbackSource, Subscriber, SubscriberState
from tests.bounces import reports
from tests.bounces.dovecot import Dovecot
from tests.bounces.relay import BouncingRelay, delayed, hard
from tests.factories import add_review, add_sample_content, add_subscribers, approved_issue
from tests.smtp_server import SMTPServer

GONE, COMPLAINER, FULL, AWAY = ("cy0@example.org", "en1@example.org", "both0@example.org",
                                "cy1@example.org")
OCTOBER = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)  # 09:00 BST, first Monday of October


@pytest.fixture
def relay(dovecot: Dovecot) -> Iterator[SMTPServer]:
    server = SMTPServer(BouncingRelay(dovecot, {
        GONE: hard, COMPLAINER: reports.arf, FULL: delayed, AWAY: reports.auto_reply}))
    yield server.start()
    server.stop()


@pytest.fixture
def cfg(db_settings: Settings, relay: SMTPServer, dovecot: Dovecot) -> Settings:
    return db_settings.model_copy(update={
        **relay.smtp_settings(), "bounce_address": "bounces@example.org",
        "bounce_imap_host": dovecot.host, "bounce_imap_port": dovecot.tls_port,
        "bounce_imap_username": dovecot.user, "bounce_imap_password": SecretStr(dovecot.password),
        "bounce_imap_ca_file": dovecot.ca_file})


def send(engine: Engine, cfg: Settings, issue_id: int) -> run.SendReport:
    return run.send_issue(engine, cfg, issue_id, factory.transport_factory(cfg), connections=2)


def states(session: Session) -> dict[str, SubscriberState]:
    session.rollback()
    session.expire_all()
    return {s.email: s.state for s in session.exec(select(Subscriber))}


def test_bounced_and_complaining_subscribers_get_nothing_next_month(
        engine: Engine, session: Session, cfg: Settings, relay: SMTPServer,
        dovecot: Dovecot) -> None:
    add_sample_content(session)
    everyone = [s.email for s in add_subscribers(session, per_language=2)]
    september = approved_issue(session, cfg)
    assert send(engine, cfg, september.id or 0).total_sent == 6
    handler = relay.handler
    assert isinstance(handler, BouncingRelay)
    assert len(handler.returned) == 4
    assert all(r.mail_from.startswith("bounces+") for r in relay.received)
    assert len(dovecot.read()) == 4

    with intake.imap_source(cfg) as mailbox:
        report = intake.take(engine, cfg, mailbox, FeedbackSource.MAILBOX)
    assert report.outcomes == {"applied": 3, "ignored": 1}
    assert (report.bounced, report.unsubscribed, report.held) == (1, 1, 0)
    assert dovecot.read() == [] and len(dovecot.read("digest.processed")) == 4
    after = states(session)
    assert after[GONE] is SubscriberState.BOUNCED
    assert after[COMPLAINER] is SubscriberState.UNSUBSCRIBED
    assert after[FULL] is SubscriberState.ACTIVE  # one delayed message of the three allowed
    assert after[AWAY] is SubscriberState.ACTIVE  # an out-of-office is not a bounce
    feedback = service.issue_feedback(session, september.id or 0)
    assert (feedback.sent, feedback.hard, feedback.soft, feedback.complaints) == (6, 1, 1, 1)

    add_review(session, "delta", datetime(2026, 9, 20, tzinfo=UTC))
    planned = issues.plan(session, cfg, OCTOBER)
    assert planned.issue is not None and planned.issue.period == "2026-10"
    lifecycle.approve(session, planned.issue, "test")
    session.commit()
    handler.returns.clear()
    before = len(relay.received)
    report2 = send(engine, cfg, planned.issue.id or 0)
    october = {r.rcpt for r in relay.received[before:]}
    assert report2.total_sent == 4 and len(relay.received) - before == 4
    assert october == set(everyone) - {GONE, COMPLAINER}
    # Polling again finds nothing new and changes nothing.
    with intake.imap_source(cfg) as mailbox:
        assert intake.take(engine, cfg, mailbox, FeedbackSource.MAILBOX).messages == 0
