"""A send run on both databases: each subscriber once, in their language; crashes lose nothing
(the outbox itself is tested in test_outbox.py)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.delivery import outbox, run
from digest.delivery.transports.base import Outcome, SendResult
from digest.delivery.transports.file import FileTransport
from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.store.models import (
    DeliveryState,
    Issue,
    IssueState,
    Subscriber,
    SubscriberState,
)
from tests.delivery.conftest import LEASE, rows, state_of
from tests.factories import AS_OF, add_sample_content, add_subscribers, approved_issue


def test_send_delivers_each_subscriber_once_in_their_language(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    transport = MemoryTransport()
    report = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
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
    again = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
    assert again.created == 0 and sum(again.sent.values()) == 0 and len(transport.sent) == 9


def test_relay_refusals_are_recorded_not_raised(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    transport = MemoryTransport(script={
        "cy0@example.org": SendResult(Outcome.PERMANENT, "550 5.1.1 no such user"),
        "en1@example.org": SendResult(Outcome.TEMPORARY, "451 4.7.1 try later"),
    })
    report = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
    assert (report.failed, report.retry, sum(report.sent.values())) == (1, 1, 7)
    states = {r.subscriber_id: r for r in rows(session, issue)}
    subs = {s.email: s.id or 0 for s in session.exec(select(Subscriber))}
    failed = states[subs["cy0@example.org"]]
    assert failed.state is DeliveryState.FAILED and failed.last_error == "550 5.1.1 no such user"
    retry = states[subs["en1@example.org"]]
    assert retry.state is DeliveryState.RETRY and retry.next_attempt_at is not None
    assert state_of(session, issue) is IssueState.SENDING
    # Once the retry is due and the relay accepts, the issue completes.
    transport.script.clear()
    later = retry.next_attempt_at + timedelta(seconds=1)
    report = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport,
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
    report = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
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
    report = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport,
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
    transport = FileTransport(out)
    run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
    files = sorted(out.glob("*.eml"))
    assert len(files) == 9 and not list(out.glob("*.tmp"))
    # Each holds its reader's unsubscribe link: the owner's only, whatever the umask (0644
    # before, with the usual 022).
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}
    first = message_from_bytes(files[0].read_bytes(), policy=default)
    assert files[0].name == first["Message-ID"].strip("<>").split("@")[0] + ".eml"


def test_an_outbox_folder_that_cannot_be_written_is_the_relay_down(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue,
        tmp_path: Path) -> None:
    """The folder gone (a file in its place; a full disk or its permissions likewise): it was
    a "transport bug", a retry counted against the first recipient and a run that ended as
    if stopped by Ctrl-C (exit 130). It is the relay being unreachable: no attempt counted,
    every row handed back, and the reason naming the folder."""
    out = tmp_path / "outbox"
    transport = FileTransport(out)
    out.rmdir()
    out.write_bytes(b"")  # even root cannot write a file inside a file
    report = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
    assert report.relay_error == f"outbox folder {out} could not be written (Not a directory)"
    assert report.total_sent == 0 and report.retry == 0 and not report.stopped
    assert report.left.total == report.left.pending == 9
    assert {(r.state, r.attempts, r.last_error) for r in rows(session, issue)} == {
        (DeliveryState.PENDING, 0, None)}
    assert state_of(session, issue) is IssueState.SENDING  # resumable
    assert list(tmp_path.glob("*.tmp")) == []
    out.unlink()
    resumed = run.send_issue(engine, db_settings, issue.id or 0,
                             lambda: FileTransport(out))
    assert resumed.total_sent == 9 and resumed.relay_error is None
    assert len(list(out.glob("*.eml"))) == 9


def test_cancelled_issue_cannot_be_sent(engine: Engine, session: Session,
                                        db_settings: Settings, issue: Issue) -> None:
    issue.state = IssueState.CANCELLED
    session.add(issue)
    session.commit()
    with pytest.raises(ValueError, match="cancelled"):
        run.send_issue(engine, db_settings, issue.id or 0, MemoryTransport)


def _refuse_sent_rows_after(engine: Engine, limit: int) -> None:
    """Make the database itself refuse to record more than `limit` sent rows (a trigger)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"""
                CREATE OR REPLACE FUNCTION refuse_sent() RETURNS trigger AS $$ BEGIN
                  IF (SELECT count(*) FROM delivery WHERE state = 'sent') >= {limit} THEN
                    RAISE EXCEPTION 'database refuses writes';
                  END IF;
                  RETURN NEW;
                END $$ LANGUAGE plpgsql""")
            conn.exec_driver_sql("""
                CREATE TRIGGER refuse_sent BEFORE UPDATE ON delivery FOR EACH ROW
                WHEN (NEW.state = 'sent') EXECUTE FUNCTION refuse_sent()""")
        else:
            conn.exec_driver_sql(f"""
                CREATE TRIGGER refuse_sent BEFORE UPDATE OF state ON delivery
                WHEN NEW.state = 'sent'
                 AND (SELECT count(*) FROM delivery WHERE state = 'sent') >= {limit}
                BEGIN SELECT RAISE(ABORT, 'database refuses writes'); END""")


def test_a_database_that_stops_taking_outcomes_stops_the_send_and_loses_nothing(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue) -> None:
    _refuse_sent_rows_after(engine, 3)
    transport = MemoryTransport()
    with pytest.raises(sa.exc.DBAPIError, match="database refuses writes"):
        run.send_issue(engine, db_settings, issue.id or 0, lambda: transport,
                           connections=2, clock=TickingClock(AS_OF))
    accepted_before = len(transport.sent)
    states = [r.state for r in rows(session, issue)]
    recorded = states.count(DeliveryState.SENT)  # 2 or 3: a refused group commits nothing
    assert 2 <= recorded <= 3
    unrecorded = accepted_before - recorded
    # Accepted but unrecorded: still claimed, so a resume sends them again after the lease.
    assert 1 <= unrecorded <= 2  # at most one unrecorded message per connection
    assert states.count(DeliveryState.SENDING) == unrecorded
    assert states.count(DeliveryState.PENDING) == 9 - accepted_before  # claims given back
    assert state_of(session, issue) is IssueState.SENDING

    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse_sent" + (
            " ON delivery" if engine.dialect.name == "postgresql" else ""))
    report = run.send_issue(engine, db_settings, issue.id or 0, lambda: transport,
                                clock=TickingClock(AS_OF + LEASE + timedelta(seconds=1)))
    assert report.left.total == 0 and state_of(session, issue) is IssueState.SENT
    assert all(r.state is DeliveryState.SENT for r in rows(session, issue))
    received = Counter(m.recipient for m in transport.sent)
    assert len(received) == 9  # nobody missed
    assert sum(received.values()) - 9 == unrecorded  # duplicates: only the unrecorded


def test_heartbeats_during_a_busy_send_never_deadlock_with_its_commits(
        engine: Engine, session: Session, db_settings: Settings) -> None:
    # On PostgreSQL a heartbeat (one UPDATE of every row the run holds) running beside a group
    # commit (row by row) once locked the same rows in opposite orders: "deadlock detected".
    add_sample_content(session)
    add_subscribers(session, per_language=400)
    issue = approved_issue(session, db_settings)
    fast_beats = db_settings.model_copy(update={"claim_lease_seconds": 0.15})
    transport = MemoryTransport()
    report = run.send_issue(engine, fast_beats, issue.id or 0, lambda: transport,
                                connections=4)
    assert report.total_sent == 1200 and report.left.total == 0
    assert len({m.recipient for m in transport.sent}) == len(transport.sent) == 1200




@pytest.mark.parametrize("key", ["missing", "garbage", "secret"])
def test_a_send_the_configuration_refuses_writes_nothing(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue, tmp_path: Path,
        key: str) -> None:
    """An unreadable DKIM key or an unusable secret key is found before the outbox is made
    and the issue marked sending: the issue stays approved, with no rows, as if never tried."""
    from digest.settings import InsecureSecretKey, SettingInvalid

    path = tmp_path / "dkim.pem"
    if key == "garbage":
        path.write_bytes(b"-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA "
                         b"PRIVATE KEY-----\n")
    changes: dict[str, object] = {"dkim_selector": "s", "dkim_private_key_path": path}
    if key == "secret":
        changes = {"secret_key": None}
    refused = db_settings.model_copy(update=changes)
    with pytest.raises(InsecureSecretKey if key == "secret" else SettingInvalid) as info:
        run.send_issue(engine, refused, issue.id or 0, MemoryTransport)
    if key != "secret":
        assert "DIGEST_DKIM_PRIVATE_KEY_PATH" in str(info.value) and str(path) in str(info.value)
    assert state_of(session, issue) is IssueState.APPROVED and rows(session, issue) == []
