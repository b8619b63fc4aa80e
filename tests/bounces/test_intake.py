"""Polling the bounce mailbox into the store: a real Dovecot, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.bounces import intake
from digest.bounces.sources.base import SourceError
from digest.bounces.sources.files import FileSource
from digest.bounces.sources.imap import IMAPSource
from digest.delivery import verp
from digest.settings import Settings
from digest.store.models import (
    BounceEvent,
    Delivery,
    DeliveryState,
    FeedbackOutcome,
    FeedbackSource,
    Issue,
    IssueState,
    Language,
    Subscriber,
    SubscriberState,
)
from tests.bounces import reports
from tests.bounces.dovecot import Dovecot

NOW = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
MAILBOX = FeedbackSource.MAILBOX
PROCESSED, HELD = "digest.processed", "digest.held"


def mailbox(settings: Settings, server: Dovecot, security: str = "tls") -> Settings:
    return settings.model_copy(update={
        "bounce_address": "bounces@example.org", "bounce_imap_host": server.host,
        "bounce_imap_port": server.tls_port if security == "tls" else server.port,
        "bounce_imap_security": security, "bounce_imap_username": server.user,
        "bounce_imap_password": SecretStr(server.password),
        "bounce_imap_ca_file": server.ca_file})


def sent_to(session: Session, settings: Settings, email: str) -> str:
    """A subscriber with one sent message; the VERP address it returns to."""
    sub = Subscriber(email=email, language=Language.EN, state=SubscriberState.ACTIVE)
    issue = session.exec(select(Issue)).first() or Issue(
        period="2026-09", cutoff_at=NOW, since_at=NOW, state=IssueState.SENT)
    session.add_all([sub, issue])
    session.flush()
    row = Delivery(issue_id=issue.id or 0, subscriber_id=sub.id or 0, state=DeliveryState.SENT,
                   message_id=f"<digest.{issue.id}.{sub.id}@example.org>", sent_at=NOW)
    session.add(row)
    session.commit()
    key = verp.derive_key(settings.signing_key())
    return verp.envelope_sender("bounces@example.org", verp.make_tag(row.id or 0, key))


def state_of(session: Session, email: str) -> SubscriberState:
    session.rollback()
    session.expire_all()
    return session.exec(select(Subscriber).where(Subscriber.email == email)).one().state


def events(session: Session) -> list[BounceEvent]:
    session.rollback()
    return list(session.exec(select(BounceEvent)))


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_poll_records_then_moves_each_message(
        engine: Engine, session: Session, db_settings: Settings, dovecot: Dovecot,
        security: str) -> None:
    cfg = mailbox(db_settings, dovecot, security)
    hard = sent_to(session, cfg, "hard@example.net")
    away = sent_to(session, cfg, "away@example.net")
    dovecot.append(reports.dsn(hard, "hard@example.net", None))
    dovecot.append(reports.auto_reply(away, "away@example.net", "<digest.1.2@example.org>"))
    dovecot.append(reports.person_writes("bounces@example.org"))
    with intake.imap_source(cfg) as source:
        report = intake.take(engine, cfg, source, MAILBOX, clock=lambda: NOW)
    assert (report.messages, report.held, report.bounced, report.repeated) == (3, 1, 1, 0)
    assert report.outcomes == {"applied": 1, "ignored": 1, "held": 1}
    assert state_of(session, "hard@example.net") is SubscriberState.BOUNCED
    assert state_of(session, "away@example.net") is SubscriberState.ACTIVE
    assert dovecot.read() == []
    assert [m.flags for m in dovecot.read(PROCESSED)] == [frozenset({"\\Seen"})] * 2
    [held] = dovecot.read(HELD)
    assert b"Question about the digest" in held.raw
    assert held.flags == frozenset()  # unread, for the person who looks


def test_a_crash_between_commit_and_move_reads_the_message_again_harmlessly(
        engine: Engine, session: Session, db_settings: Settings, dovecot: Dovecot) -> None:
    cfg = mailbox(db_settings, dovecot)
    hard = sent_to(session, cfg, "hard@example.net")
    dovecot.append(reports.dsn(hard, "hard@example.net", None))
    with intake.imap_source(cfg) as source:
        [item] = source.poll()
        [first] = intake.record(engine, cfg, item, MAILBOX, NOW)  # committed...
        # ...and the process dies here, before source.done(): the message stays put.
    assert first.new and first.outcome is FeedbackOutcome.APPLIED
    assert len(dovecot.read()) == 1
    with intake.imap_source(cfg) as source:
        report = intake.take(engine, cfg, source, MAILBOX, clock=lambda: NOW)
    assert (report.messages, report.repeated, report.bounced) == (1, 1, 0)
    assert report.outcomes == {}
    assert dovecot.read() == [] and len(dovecot.read(PROCESSED)) == 1
    assert len(events(session)) == 1
    assert state_of(session, "hard@example.net") is SubscriberState.BOUNCED


def test_a_database_failure_leaves_the_message_in_the_mailbox(
        session: Session, db_settings: Settings, dovecot: Dovecot) -> None:
    from digest.store.db import make_engine

    cfg = mailbox(db_settings, dovecot)
    dovecot.append(reports.dsn(sent_to(session, cfg, "hard@example.net"), "hard@example.net",
                               None))
    broken = make_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    with intake.imap_source(cfg) as source, pytest.raises(sa.exc.OperationalError):
        intake.take(broken, cfg, source, MAILBOX, clock=lambda: NOW)
    broken.dispose()
    assert len(dovecot.read()) == 1 and dovecot.read(PROCESSED) == []


def test_a_message_that_breaks_recording_is_held_and_the_run_goes_on(
        engine: Engine, session: Session, db_settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault one message provokes (here a stand-in for one not foreseen) used to escape
    `take`: the run stopped at that message, the ones after it waited, and every later poll
    stopped at it again. It is rolled back, recorded as held, and the run goes on."""
    from digest.bounces import service

    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    cfg = db_settings.model_copy(update={"bounce_address": "bounces@example.org"})
    hard = sent_to(session, cfg, "hard@example.net")
    poison = reports.person_writes("bounces@example.org").replace(b"Hello", b"POISON")
    (root / "new" / "1.poison").write_bytes(poison)
    (root / "new" / "2.bounce").write_bytes(reports.dsn(hard, "hard@example.net", None))
    real = service.process_raw

    def fragile(session: Session, settings: Settings, raw: bytes, *args: object,
                **kwargs: object) -> list[service.Processed]:
        found = real(session, settings, raw, *args, **kwargs)  # type: ignore[arg-type]
        if b"POISON" in raw:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return found

    monkeypatch.setattr(service, "process_raw", fragile)
    report = intake.take(engine, cfg, FileSource(root), FeedbackSource.FILE, clock=lambda: NOW)
    assert (report.messages, report.held, report.bounced) == (2, 1, 1)
    assert [p.name.split(":")[0] for p in (root / ".digest.held" / "cur").iterdir()] == [
        "1.poison"]
    [held] = [e for e in events(session) if e.outcome is FeedbackOutcome.HELD]
    assert held.diagnostic == "could not be recorded (UnicodeEncodeError): held for a person"
    assert held.raw == poison and len(events(session)) == 2  # the failed attempt left nothing
    again = intake.take(engine, cfg, FileSource(root), FeedbackSource.FILE, clock=lambda: NOW)
    assert again.messages == 0


def test_an_oversized_message_is_recorded_and_held(
        engine: Engine, session: Session, db_settings: Settings, dovecot: Dovecot) -> None:
    cfg = mailbox(db_settings, dovecot)
    dovecot.append(reports.person_writes("bounces@example.org") + b"x" * 4000)
    source = IMAPSource(dovecot.host, username=dovecot.user, password=dovecot.password,
                        port=dovecot.tls_port, ca_file=dovecot.ca_file, max_message_bytes=1000)
    with source:
        report = intake.take(engine, cfg, source, MAILBOX, clock=lambda: NOW)
    assert (report.messages, report.held) == (1, 1)
    [event] = events(session)
    assert event.outcome is FeedbackOutcome.HELD and "1000-byte limit" in (event.diagnostic or "")
    assert len(dovecot.read(HELD)) == 1


def test_an_unconfigured_mailbox_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(SourceError, match="DIGEST_BOUNCE_IMAP_HOST") as error:
        intake.imap_source(settings)
    assert not error.value.temporary


def test_a_maildir_is_processed_the_same_way(
        engine: Engine, session: Session, db_settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    cfg = db_settings.model_copy(update={"bounce_address": "bounces@example.org"})
    hard = sent_to(session, cfg, "hard@example.net")
    (root / "new" / "1.bounce").write_bytes(reports.dsn(hard, "hard@example.net", None))
    (root / "new" / "2.person").write_bytes(reports.person_writes("bounces@example.org"))
    report = intake.take(engine, cfg, FileSource(root), FeedbackSource.FILE,
                         clock=lambda: NOW)
    assert (report.messages, report.held, report.bounced) == (2, 1, 1)
    assert [p.name.split(":")[0] for p in (root / ".digest.processed" / "cur").iterdir()] == [
        "1.bounce"]
    assert [p.name.split(":")[0] for p in (root / ".digest.held" / "cur").iterdir()] == [
        "2.person"]
    assert list((root / "new").iterdir()) == []
