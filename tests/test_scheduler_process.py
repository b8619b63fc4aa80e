"""Real `digest scheduler` processes: two at once (a deploy overlap), `--once`, SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest import scheduler
from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.store.models import Issue, IssueAction, IssueEvent, IssueState, now_utc
from tests.conftest import TEST_SECRET_KEY, process_env
from tests.factories import add_review, add_subscribers
from tests.smtp_server import SMTPServer


def scheduler_env(settings: Settings, server: SMTPServer, tmp_path: Path) -> dict[str, str]:
    return process_env({
        "DIGEST_DATABASE_URL": settings.database_url, "DIGEST_SECRET_KEY": TEST_SECRET_KEY,
        "DIGEST_VAR_DIR": str(tmp_path / "var"), "DIGEST_TRANSPORT": "smtp",
        "DIGEST_SMTP_HOST": server.host, "DIGEST_SMTP_PORT": str(server.port),
        "DIGEST_POLICY": "auto", "DIGEST_SEND_DELAY_DAYS": "0",
    })


def make_jobs_due(settings: Settings, engine: Engine) -> None:
    """Create the jobs in the store and make both due now (plan first, then send)."""
    sched = scheduler.make_scheduler(
        scheduler.Runtime(settings, engine, MemoryTransport))
    now = now_utc()
    sched.modify_job("plan", next_run_time=now - timedelta(minutes=2))
    sched.modify_job("send", next_run_time=now - timedelta(minutes=1))
    sched.shutdown()


def test_two_schedulers_at_once_make_one_issue_and_one_send(
        engine: Engine, session: Session, db_settings: Settings, smtp_server: SMTPServer,
        tmp_path: Path) -> None:
    add_subscribers(session, per_language=2)
    add_review(session, "fresh", now_utc() - timedelta(days=2))
    session.commit()
    make_jobs_due(db_settings, engine)
    smtp_server.behaviour.delay = 0.01
    env = scheduler_env(db_settings, smtp_server, tmp_path)
    procs = [subprocess.Popen([sys.executable, "-m", "digest.cli", "scheduler", "--once"],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    session.rollback()
    issue = session.exec(select(Issue)).one()
    assert issue.state is IssueState.SENT
    counts = smtp_server.handler.per_recipient()
    assert len(counts) == 6 and set(counts.values()) == {1}
    actions = [e.action for e in session.exec(select(IssueEvent))]
    assert actions.count(IssueAction.PLANNED) == 1
    assert actions.count(IssueAction.SEND_STARTED) == 1
    log = "\n".join(outputs)
    assert "plan job: planned issue" in log and "approved by the auto policy" in log
    assert "send job:" in log


def test_once_with_nothing_due_does_nothing(engine: Engine, session: Session,
                                            db_settings: Settings, smtp_server: SMTPServer,
                                            tmp_path: Path) -> None:
    env = scheduler_env(db_settings, smtp_server, tmp_path)
    done = subprocess.run([sys.executable, "-m", "digest.cli", "scheduler", "--once"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"nothing due; next: (plan|send) job at \w{3} \d\d \w{3} \d{4} "
                        r"\d\d:\d\d (GMT|BST)\n", done.stdout), done.stdout
    assert session.exec(select(Issue)).all() == []
    jobs = subprocess.run([sys.executable, "-m", "digest.cli", "scheduler", "jobs"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert jobs.returncode == 0
    assert "plan  cron[day='1st mon', hour='9', minute='0']" in jobs.stdout
    assert "policy: auto" in jobs.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_daemon_stops_cleanly_on_a_signal(db_settings: Settings, smtp_server: SMTPServer,
                                          tmp_path: Path, sig: signal.Signals) -> None:
    env = scheduler_env(db_settings, smtp_server, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "digest.cli", "scheduler"], env=env,
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    line = ""
    while "scheduler started" not in line:
        assert time.monotonic() < deadline and proc.poll() is None
        line = proc.stderr.readline()
    proc.send_signal(sig)
    rest = proc.communicate(timeout=20)[1]
    assert proc.returncode == 0 and "scheduler stopped" in rest
