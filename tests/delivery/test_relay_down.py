"""A relay that cannot be reached: the run stops early with the relay's error, burns no row
(nothing is recorded as an attempt) and leaves everything for the next run. Both databases."""

from __future__ import annotations

import smtplib
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.delivery import run
from digest.delivery.transports import factory
from digest.delivery.transports.base import Outcome, SendResult
from digest.delivery.transports.memory import MemoryTransport
from digest.delivery.transports.smtp import SMTPTransport
from digest.settings import Settings
from digest.store.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueState,
    Language,
    Subscriber,
    SubscriberState,
)
from tests.factories import add_sample_content, add_subscribers, approved_issue
from tests.smtp_server import SMTPServer, free_port, server_context


@pytest.fixture
def issue(session: Session, db_settings: Settings) -> Issue:
    add_sample_content(session)
    add_subscribers(session, per_language=20)
    return approved_issue(session, db_settings)


def rows(session: Session, issue: Issue) -> list[Delivery]:
    session.rollback()
    session.expire_all()
    return list(session.exec(select(Delivery).where(Delivery.issue_id == issue.id)))


def test_no_relay_listening_stops_at_once_and_every_row_stays_pending(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue,
        smtp_server: SMTPServer) -> None:
    down = db_settings.model_copy(update={"transport": "smtp", "smtp_port": free_port()})
    started = time.monotonic()
    report = run.send_issue(engine, down, issue.id or 0, factory.transport_factory(down),
                            connections=4, wait_for_retries=True)
    assert time.monotonic() - started < 2 * (run.CONNECT_PAUSE * 3) + 5
    assert report.relay_error == f"relay 127.0.0.1:{down.smtp_port} refused the connection"
    assert (report.total_sent, report.retry, report.failed) == (0, 0, 0)
    assert report.left.pending == report.left.total == 60
    assert {(r.state, r.attempts, r.claimed_by) for r in rows(session, issue)} == {
        (DeliveryState.PENDING, 0, None)}
    back = db_settings.model_copy(update=smtp_server.smtp_settings())
    again = run.send_issue(engine, back, issue.id or 0, factory.transport_factory(back),
                           connections=4)
    assert again.total_sent == 60 and again.relay_error is None
    assert set(smtp_server.handler.per_recipient().values()) == {1}


def test_a_relay_that_goes_down_mid_send_stops_the_run_with_its_error(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    server = SMTPServer().start()
    server.behaviour.delay = 0.02
    cfg = db_settings.model_copy(update=server.smtp_settings())

    def pull_the_plug() -> None:
        while len(server.received) < 10:
            time.sleep(0.005)
        server.stop()

    threading.Thread(target=pull_the_plug, daemon=True).start()
    report = run.send_issue(engine, cfg, issue.id or 0, factory.transport_factory(cfg),
                            connections=2, wait_for_retries=False)
    assert report.relay_error == f"relay 127.0.0.1:{server.port} refused the connection"
    got = rows(session, issue)
    sent = [r for r in got if r.state is DeliveryState.SENT]
    assert len(sent) == report.total_sent == len(server.received) >= 10
    # A message cut off when the relay went away is a retry; nothing else was attempted.
    retry = [r for r in got if r.state is DeliveryState.RETRY]
    assert len(retry) <= 2 and report.left.total == 60 - len(sent) > 0
    assert all(r.attempts == 0 for r in got if r.state is DeliveryState.PENDING)
    assert not [r for r in got if r.state is DeliveryState.SENDING]


def test_an_adapter_that_finds_its_relay_unreachable_on_delivery_burns_no_row(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    session.rollback()
    emails = [s.email for s in session.exec(select(Subscriber))]
    unreachable = SendResult(Outcome.TEMPORARY, "relay api.example.net:443 timed out",
                             unreachable=True)
    transport = MemoryTransport(script={e: unreachable for e in emails})
    report = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
    assert report.relay_error == "relay api.example.net:443 timed out"
    assert report.retry == 0 and report.left.pending == 60
    assert {r.attempts for r in rows(session, issue)} == {0}


def test_an_issue_sent_already_is_left_alone(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    transport = MemoryTransport()
    assert run.send_issue(engine, db_settings, issue.id or 0, lambda: transport).total_sent == 60
    session.add(Subscriber(email="late@example.org", language=Language.EN,
                           state=SubscriberState.ACTIVE))
    session.commit()
    again = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
    assert again.already_sent and again.created == 0 and len(transport.sent) == 60
    assert len(rows(session, issue)) == 60  # no row for a subscriber who joined after
    session.expire_all()
    assert session.get(Issue, issue.id).state is IssueState.SENT  # type: ignore[union-attr]


def test_a_stop_while_waiting_for_the_relay_is_a_stop_not_a_relay_failure(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    down = db_settings.model_copy(update={"transport": "smtp", "smtp_port": free_port()})
    stop = threading.Event()
    threading.Timer(run.CONNECT_PAUSE / 2, stop.set).start()  # during the first pause
    report = run.send_issue(engine, down, issue.id or 0, factory.transport_factory(down),
                            connections=2, stop=stop)
    assert report.stopped and report.relay_error is None
    assert {(r.state, r.attempts) for r in rows(session, issue)} == {(DeliveryState.PENDING, 0)}


def test_a_security_setting_that_does_not_fit_the_port_stops_at_the_first_try(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue,
        certificate: tuple[Path, Path]) -> None:
    """Plain text to an implicit-TLS port: it was tried three times per connection (each
    waiting the whole DIGEST_SMTP_TIMEOUT for a greeting); trying again cannot help."""
    server = SMTPServer(ssl_context=server_context(certificate)).start()
    tries: list[int] = []

    class Counted(SMTPTransport):
        def _connect(self) -> smtplib.SMTP:
            tries.append(1)
            return super()._connect()

    cfg = db_settings.model_copy(update={**server.smtp_settings(),
                                         "smtp_greeting_timeout": 0.3})
    try:
        report = run.send_issue(engine, cfg, issue.id or 0, lambda: Counted(cfg),
                                connections=2, wait_for_retries=True)
    finally:
        server.stop()
    assert report.relay_error == (f"relay 127.0.0.1:{server.port} sent no SMTP greeting "
                                  "within 0.3 s but answers TLS: it is an implicit-TLS port, "
                                  "set DIGEST_SMTP_SECURITY=tls")
    assert 1 <= len(tries) <= 2  # at most one per connection (it was three each)
    assert report.left.pending == report.left.total == 60
    assert {(r.state, r.attempts) for r in rows(session, issue)} == {(DeliveryState.PENDING, 0)}
