"""The scheduler's bounce job: present only with a mailbox, every N minutes, against Dovecot."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest import scheduler
from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.store.models import BounceEvent, FeedbackOutcome, now_utc
from tests.bounces import reports
from tests.bounces.dovecot import Dovecot, dovecot, dovecot_server, free_port  # noqa: F401


def with_mailbox(settings: Settings, server: Dovecot, **changes: object) -> Settings:
    return settings.model_copy(update={
        "bounce_imap_host": server.host, "bounce_imap_port": server.tls_port,
        "bounce_imap_username": server.user, "bounce_imap_password": SecretStr(server.password),
        "bounce_imap_ca_file": server.ca_file, **changes})


def jobs(settings: Settings, engine: Engine) -> dict[str, str]:
    sched = scheduler.make_scheduler(scheduler.Runtime(settings, engine, MemoryTransport))
    try:
        return {job_id: schedule for job_id, schedule, _ in scheduler.jobs(sched)}
    finally:
        sched.shutdown()


def test_the_job_exists_only_while_a_mailbox_is_configured(
        engine: Engine, db_settings: Settings, dovecot: Dovecot) -> None:  # noqa: F811
    assert set(jobs(db_settings, engine)) == {"plan", "send"}
    configured = with_mailbox(db_settings, dovecot, bounce_poll_minutes=15)
    assert jobs(configured, engine)["bounces"] == "interval[0:15:00]"
    faster = configured.model_copy(update={"bounce_poll_minutes": 5})
    assert jobs(faster, engine)["bounces"] == "interval[0:05:00]"  # rescheduled
    off = configured.model_copy(update={"bounce_poll_minutes": 0})
    assert set(jobs(off, engine)) == {"plan", "send"}  # removed from the job store
    assert set(jobs(db_settings, engine)) == {"plan", "send"}


def test_the_job_polls_the_mailbox_when_due(
        engine: Engine, session: Session, db_settings: Settings,
        dovecot: Dovecot) -> None:  # noqa: F811
    dovecot.append(reports.person_writes("bounces@example.org"))
    settings = with_mailbox(db_settings, dovecot, bounce_poll_minutes=10)
    start = now_utc()
    with time_machine.travel(start, tick=False) as clock:
        sched = scheduler.make_scheduler(scheduler.Runtime(settings, engine, MemoryTransport))
        sched.run_pending()
        assert session.exec(select(BounceEvent)).all() == []  # not due yet
        clock.move_to(start + timedelta(minutes=10, seconds=1))
        sched.run_pending()
        sched.shutdown()
    session.rollback()
    [event] = session.exec(select(BounceEvent)).all()
    assert event.outcome is FeedbackOutcome.HELD
    assert dovecot.read() == [] and len(dovecot.read("digest.held")) == 1


def test_a_mailbox_that_is_down_is_one_warning(
        engine: Engine, db_settings: Settings, dovecot: Dovecot,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    settings = with_mailbox(db_settings, dovecot, bounce_imap_port=free_port())
    scheduler.make_scheduler(scheduler.Runtime(settings, engine, MemoryTransport)).shutdown()
    with caplog.at_level(logging.WARNING, logger="digest.scheduler"):
        scheduler.bounce_job()  # as the scheduler calls it
    [record] = [r for r in caplog.records if r.name == "digest.scheduler"]
    assert record.getMessage().endswith("refused the connection")
    assert record.exc_info is None
