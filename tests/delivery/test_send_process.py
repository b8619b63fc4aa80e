"""Real `digest issue send` processes: killed at random points, run twice at once, stopped.

The server counts what it received per address: nobody may be missed, and duplicates may
only come from messages in flight when a process was killed (at most one per connection).
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.settings import Settings
from digest.store.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueState,
    Subscriber,
    SubscriberState,
)
from tests.conftest import TEST_SECRET_KEY, process_env
from tests.factories import AS_OF, add_sample_content, approved_issue
from tests.smtp_server import SMTPServer

CONNECTIONS = 4


def add_many_subscribers(session: Session, n: int) -> None:
    langs = ["cy", "en", "both"]
    session.execute(sa.insert(Subscriber.__table__), [  # type: ignore[attr-defined]
        {"email": f"s{i}@example.org", "name": f"Person {i}", "language": langs[i % 3],
         "state": SubscriberState.ACTIVE, "created_at": AS_OF, "updated_at": AS_OF}
        for i in range(n)])


@pytest.fixture
def planned(session: Session, db_settings: Settings) -> Issue:
    add_sample_content(session)
    add_many_subscribers(session, 600)
    return approved_issue(session, db_settings)


def env_for(settings: Settings, server: SMTPServer, tmp_path: Path) -> dict[str, str]:
    return process_env({
        "DIGEST_DATABASE_URL": settings.database_url,
        "DIGEST_SECRET_KEY": TEST_SECRET_KEY,
        "DIGEST_VAR_DIR": str(tmp_path / "var"),
        "DIGEST_TRANSPORT": "smtp",
        "DIGEST_SMTP_HOST": server.host,
        "DIGEST_SMTP_PORT": str(server.port),
        "DIGEST_SMTP_CONNECTIONS": str(CONNECTIONS),
        "DIGEST_CLAIM_LEASE_SECONDS": "1.5",
        "DIGEST_RETRY_BASE_SECONDS": "0.1",
    })


def start_send(env: dict[str, str], tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "digest.cli", "issue", "send", "2026-09",
                             *extra], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def wait_for_messages(server: SMTPServer, at_least: int, proc: subprocess.Popen[bytes],
                      timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(server.received) < at_least and proc.poll() is None:
        assert time.monotonic() < deadline, "the sender made no progress"
        time.sleep(0.005)


def outbox_states(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Delivery.state, sa.func.count())  # type: ignore[call-overload]
                            .group_by(Delivery.state)).all()
    return {getattr(s, "value", s): n for s, n in rows}


def test_killed_at_random_points_then_resumed_nobody_missed(
        engine: Engine, db_settings: Settings, planned: Issue, smtp_server: SMTPServer,
        tmp_path: Path) -> None:
    smtp_server.behaviour.delay = 0.004
    env = env_for(db_settings, smtp_server, tmp_path)
    rng = random.Random(20260907)
    kills = 0
    for _ in range(3):
        proc = start_send(env, tmp_path)
        target = len(smtp_server.received) + rng.randint(20, 150)
        wait_for_messages(smtp_server, target, proc)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
    final = start_send(env, tmp_path)
    output = final.communicate(timeout=120)[0].decode()
    assert final.returncode == 0, output

    counts = smtp_server.handler.per_recipient()
    assert len(counts) == 600, "every active subscriber received the issue"
    duplicates = sum(n - 1 for n in counts.values())
    assert kills == 3  # each run was killed while sending
    print(f"kills={kills} duplicates={duplicates}")
    assert duplicates <= kills * CONNECTIONS, (duplicates, kills)
    assert outbox_states(engine) == {DeliveryState.SENT.value: 600}
    with Session(engine) as session:
        assert session.get(Issue, planned.id).state is IssueState.SENT  # type: ignore[union-attr]


def test_two_senders_started_together_send_each_message_once(
        engine: Engine, db_settings: Settings, planned: Issue, smtp_server: SMTPServer,
        tmp_path: Path) -> None:
    smtp_server.behaviour.delay = 0.002
    env = env_for(db_settings, smtp_server, tmp_path)
    procs = [start_send(env, tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    counts = smtp_server.handler.per_recipient()
    assert len(counts) == 600 and set(counts.values()) == {1}
    assert outbox_states(engine) == {DeliveryState.SENT.value: 600}
    assert all("0 left" in o for o in outputs), outputs
    created = [int(re.search(r"(\d+) new outbox row", o)[1]) for o in outputs]  # type: ignore[index]
    assert sorted(created) == [0, 600], outputs  # each says what it inserted


def test_sigterm_finishes_in_flight_and_exits_resumable(
        engine: Engine, db_settings: Settings, planned: Issue, smtp_server: SMTPServer,
        tmp_path: Path) -> None:
    smtp_server.behaviour.delay = 0.01
    env = env_for(db_settings, smtp_server, tmp_path)
    proc = start_send(env, tmp_path)
    wait_for_messages(smtp_server, 50, proc)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 130, output
    assert "resume with: digest issue send 2026-09" in output
    states = outbox_states(engine)
    assert DeliveryState.SENDING.value not in states  # nothing left claimed
    assert states[DeliveryState.SENT.value] == len(smtp_server.received) < 600
    resumed = start_send(env, tmp_path)
    assert resumed.wait(timeout=120) == 0
    assert set(smtp_server.handler.per_recipient().values()) == {1}


@pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)
def test_a_reader_that_goes_away_does_not_cut_the_send_short(
        engine: Engine, db_settings: Settings, planned: Issue, smtp_server: SMTPServer,
        tmp_path: Path) -> None:
    """`digest issue send ... | head -1`, or a `tee` that died: the progress line after the
    pipe closed made rich exit 1 in the middle of the send (its rows given back, the issue
    left sending, nothing said). The send goes on to its end and its own exit code."""
    smtp_server.behaviour.delay = 0.02  # 600 messages over 4 connections: about 3 s
    env = env_for(db_settings, smtp_server, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "digest.cli", "issue", "send", "2026-09"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"sent ")
    proc.stdout.close()  # the reader is gone; the next progress line meets a closed pipe
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert proc.stderr.read() == b""
    assert len(smtp_server.handler.per_recipient()) == 600
    assert outbox_states(engine) == {DeliveryState.SENT.value: 600}
    with Session(engine) as session:
        assert session.get(Issue, planned.id).state is IssueState.SENT  # type: ignore[union-attr]


@pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)
def test_a_hangup_stops_cleanly_unless_it_is_ignored(
        engine: Engine, db_settings: Settings, planned: Issue, smtp_server: SMTPServer,
        tmp_path: Path) -> None:
    """The terminal or ssh session going away (SIGHUP) killed the send on the spot: its claimed
    rows stayed `sending` for the lease ("in flight in another sender"), each connection's
    message on the wire a possible duplicate. It stops as SIGTERM does; under `nohup`, which
    ignores the hangup, the send goes on."""
    smtp_server.behaviour.delay = 0.01
    env = env_for(db_settings, smtp_server, tmp_path)
    proc = start_send(env, tmp_path)
    wait_for_messages(smtp_server, 50, proc)
    proc.send_signal(signal.SIGHUP)
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 130, output
    assert "resume with: digest issue send 2026-09" in output
    states = outbox_states(engine)
    assert DeliveryState.SENDING.value not in states  # nothing left claimed
    assert states[DeliveryState.SENT.value] == len(smtp_server.received) < 600

    def ignore_hangups() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # what nohup does before exec

    nohup = subprocess.Popen([sys.executable, "-m", "digest.cli", "issue", "send", "2026-09"],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, preexec_fn=ignore_hangups)
    wait_for_messages(smtp_server, len(smtp_server.received) + 50, nohup)
    nohup.send_signal(signal.SIGHUP)
    output = nohup.communicate(timeout=120)[0].decode()
    assert nohup.returncode == 0, output
    assert outbox_states(engine) == {DeliveryState.SENT.value: 600}
    assert set(smtp_server.handler.per_recipient().values()) == {1}
