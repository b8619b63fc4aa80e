"""The database fails under a real `digest issue send`: PostgreSQL's backends are terminated,
or SQLite's disk fills up. The sender prints one line, exits 69 and leaves the rows resumable:
the next run, once the claims' lease is over, sends everyone, duplicating at most the
messages that were on the wire (one per connection)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.delivery import outbox
from digest.settings import Settings
from digest.store.models import DeliveryState, Issue
from tests.conftest import PG_ADMIN_URL
from tests.delivery.test_send_process import (
    CONNECTIONS,
    add_many_subscribers,
    env_for,
    outbox_states,
    start_send,
    wait_for_messages,
)
from tests.factories import add_sample_content, approved_issue
from tests.smtp_server import SMTPServer

PERIOD = "2026-09"


@pytest.fixture
def planned(session: Session, db_settings: Settings) -> Issue:
    """600 subscribers and their outbox rows (so that the send itself inserts nothing)."""
    add_sample_content(session)
    add_many_subscribers(session, 600)
    issue = approved_issue(session, db_settings)
    outbox.create_deliveries(session, issue.id or 0)
    session.commit()
    return issue


def one_error_line(proc: subprocess.Popen[bytes]) -> str:
    """The process's stderr, which must be exactly one line."""
    _, err = proc.communicate(timeout=120)
    lines = err.decode().splitlines()
    assert len(lines) == 1, err.decode()
    return lines[0]


def resume_and_check(env: dict[str, str], tmp_path: Path, server: SMTPServer,
                     engine: Engine) -> None:
    resumed = start_send(env, tmp_path)
    output = resumed.communicate(timeout=120)[0].decode()
    assert resumed.returncode == 0, output
    counts = server.handler.per_recipient()
    assert len(counts) == 600  # nobody missed
    assert sum(counts.values()) - 600 <= CONNECTIONS  # only messages on the wire again
    assert outbox_states(engine) == {DeliveryState.SENT.value: 600}


@pytest.mark.parametrize("db_settings", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_postgresql_backends_terminated_mid_send(
        engine: Engine, db_settings: Settings, planned: Issue, smtp_server: SMTPServer,
        tmp_path: Path) -> None:
    smtp_server.behaviour.delay = 0.004
    env = env_for(db_settings, smtp_server, tmp_path)
    sender = subprocess.Popen([sys.executable, "-m", "digest.cli", "issue", "send", PERIOD],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    wait_for_messages(smtp_server, 60, sender)
    database = sa.engine.make_url(db_settings.database_url).database
    admin = sa.create_engine(sa.engine.make_url(PG_ADMIN_URL).set(
        drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).scalar()
    admin.dispose()
    assert killed
    line = one_error_line(sender)
    assert sender.returncode == 69
    assert line.startswith(f"error: database postgresql://postgres@127.0.0.1:5432/{database}: ")
    assert line.endswith(f"; nothing is lost: once it is back, resume with: "
                         f"digest issue send {PERIOD}")
    assert 60 <= len(smtp_server.received) < 600
    resume_and_check(env, tmp_path, smtp_server, engine)


@pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)
def test_sqlite_disk_full_mid_send(
        engine: Engine, db_settings: Settings, planned: Issue, smtp_server: SMTPServer,
        tmp_path: Path) -> None:
    smtp_server.behaviour.delay = 0.004
    env = env_for(db_settings, smtp_server, tmp_path)
    db = Path(sa.engine.make_url(db_settings.database_url).database or "")
    wal = db.with_name(db.name + "-wal")
    # No file of the sender may grow more than this: the write-ahead log fills it after the
    # claims and a few dozen outcomes, as a full disk would (EFBIG: SQLite's "disk I/O error").
    limit = max(wal.stat().st_size if wal.exists() else 0, db.stat().st_size) + 512 * 1024

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    sender = subprocess.Popen([sys.executable, "-m", "digest.cli", "issue", "send", PERIOD],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, preexec_fn=small_disk)
    line = one_error_line(sender)
    assert sender.returncode == 69, line
    assert line.startswith(f"error: database sqlite:///{db}: "), line
    assert line.endswith(f"; nothing is lost: once it is back, resume with: "
                         f"digest issue send {PERIOD}")
    assert 0 < len(smtp_server.received) < 600
    resume_and_check(env, tmp_path, smtp_server, engine)
