"""One-click unsubscribes through a real `digest serve` while a real `digest issue send` works
its claimed rows into a slowed relay, on both databases.

The bound (docs/delivery.md): once the POST's 200 is back, the unsubscribe is committed and at
most the message already on the wire for that subscriber can still be accepted. The relay
records when each message's final dot arrived; a message for an unsubscribed subscriber must
have arrived before their 200, or within SLACK of it (the rest of a message already being
transmitted). The rows chosen are claimed and at least FAR messages from their connection's
wire: without the re-check they would arrive FAR × DELAY or more after the 200.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.settings import Settings
from digest.store.models import Delivery, DeliveryState, Issue, Subscriber
from digest.tokens import Purpose, Tokens
from tests.delivery.test_send_process import add_many_subscribers, env_for, start_send
from tests.factories import add_sample_content, approved_issue
from tests.smtp_server import SMTPServer, free_port

D = Delivery.__table__  # type: ignore[attr-defined]
S = Subscriber.__table__  # type: ignore[attr-defined]
SUBSCRIBERS = 160
CONNECTIONS = 2
BATCH = 20  # 40 rows claimed at a time
DELAY = 0.1  # seconds the relay takes over each message
FAR = 5  # rows chosen are at least this many messages from their connection's wire
SLACK = 0.3  # < FAR × DELAY: a message already on the wire still arriving
WANTED = 24  # unsubscribes of claimed rows


@pytest.fixture
def planned(session: Session, db_settings: Settings) -> Issue:
    add_sample_content(session)
    add_many_subscribers(session, SUBSCRIBERS)
    return approved_issue(session, db_settings)


def serve(env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`digest serve` on a free port, once it answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**env, "DIGEST_SITE_URL": base}  # the only Host the app answers
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "digest.cli", "serve", "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        assert time.monotonic() < deadline, "digest serve did not start"
        try:
            with urllib.request.urlopen(f"{base}/subscribe", timeout=2) as answer:
                if answer.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.1)


def one_click(base: str, token: str) -> float:
    """POST an RFC 8058 unsubscribe; the time its 200 came back."""
    request = urllib.request.Request(
        f"{base}/u/{token}", data=b"List-Unsubscribe=One-Click", method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
    return time.monotonic()


def far_from_the_wire(waiting: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Of claimed, unsent rows in id order, those with FAR unsent rows before them in their
    run of consecutive ids (a connection sends its claim in id order)."""
    far, before, previous = [], 0, None
    for did, sid in waiting:
        before = before + 1 if previous is not None and did == previous + 1 else 0
        previous = did
        if before >= FAR:
            far.append((did, sid))
    return far


def test_no_message_after_a_one_click_unsubscribe_beyond_the_one_on_the_wire(
        engine: Engine, db_settings: Settings, planned: Issue, smtp_server: SMTPServer,
        tmp_path: Path) -> None:
    env = env_for(db_settings, smtp_server, tmp_path)
    env.update({"DIGEST_BATCH_SIZE": str(BATCH), "DIGEST_SMTP_CONNECTIONS": str(CONNECTIONS),
                "DIGEST_CLAIM_LEASE_SECONDS": "60"})
    smtp_server.behaviour.delay = DELAY
    with engine.connect() as conn:
        emails: dict[int, str] = {sid: email for sid, email in conn.execute(
            sa.select(S.c.id, S.c.email))}
    tokens = Tokens(db_settings)  # the same secret as env_for gives the processes
    web, base = serve(env, tmp_path)
    unsubscribed: dict[str, float] = {}  # email -> when its 200 came back
    try:
        sender = start_send(env, tmp_path)
        while sender.poll() is None and len(unsubscribed) < WANTED:
            with engine.connect() as conn:
                claimed = [(d, s) for d, s in conn.execute(
                    sa.select(D.c.id, D.c.subscriber_id)
                    .where(D.c.state == DeliveryState.SENDING.value).order_by(D.c.id))]
            arrived = {r.rcpt for r in smtp_server.received}
            waiting = [(d, s) for d, s in claimed if emails[s] not in arrived]
            for _, sid in far_from_the_wire(waiting)[:6]:
                unsubscribed[emails[sid]] = one_click(base, tokens.make(Purpose.UNSUBSCRIBE,
                                                                        sid))
            time.sleep(0.05)
        output = sender.communicate(timeout=180)[0].decode()
    finally:
        web.terminate()
        web.wait(timeout=30)
    assert sender.returncode == 0, output
    assert len(unsubscribed) >= 20, "the send finished before enough claimed rows were chosen"

    late = {r.rcpt: round(r.arrived - unsubscribed[r.rcpt], 3) for r in smtp_server.received
            if r.rcpt in unsubscribed and r.arrived > unsubscribed[r.rcpt]}
    assert all(seconds <= SLACK for seconds in late.values()), late
    counts = smtp_server.handler.per_recipient()
    assert max(counts.values()) == 1
    assert set(counts) | set(unsubscribed) == set(emails.values())  # nobody else missed
    with engine.connect() as conn:
        outbox: dict[str, DeliveryState] = {email: state for email, state in conn.execute(
            sa.select(S.c.email, D.c.state).join(S, S.c.id == D.c.subscriber_id))}
    assert {e for e, st in outbox.items() if st == DeliveryState.SENT} == set(counts)
    assert {e for e, st in outbox.items() if st == DeliveryState.SKIPPED} == \
        set(unsubscribed) - set(counts)
