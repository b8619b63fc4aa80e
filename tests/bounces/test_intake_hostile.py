"""Messages no parser understands, through the real Dovecot and through a maildir: each ends
the same way on both paths (recorded once, moved once, never read again), on both databases."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.bounces import intake
from digest.bounces.sources.files import FileSource
from digest.bounces.sources.imap import IMAPSource
from digest.settings import Settings
from digest.store.models import FeedbackOutcome, FeedbackSource
from tests.bounces.dovecot import Dovecot
from tests.bounces.test_intake import HELD, NOW, PROCESSED, events, mailbox

CORPUS = Path(__file__).parent / "corpus"
HOSTILE = {
    "garbage bytes": (CORPUS / "binary-garbage.eml").read_bytes(),  # NULs and all
    "no headers": (CORPUS / "no-headers.eml").read_bytes(),
    "utf-8 headers": "From: Siân <mailer-daemon@example.net>\r\nTo: bounces+x@example.org\r\n"
                     "Subject: Neges heb ei danfon – ŵ\r\n\r\nbody\r\n".encode(),
    "latin-1 headers": b"From: Ren\xe9 <postmaster@example.net>\r\nSubject: \xe9chec \xff\xfe\r\n"
                       b"To: bounces@example.org\r\n\r\nDelivery failed \xe9\r\n",
    # UTF-7 spells a lone surrogate, which no database stores: recording it raised, every poll
    "utf-7 subject": b"From: someone@example.net\r\nTo: bounces@example.org\r\n"
                     b"Subject: =?utf-7?q?Cwestiwn_+2AA-_x?=\r\n\r\nbody\r\n",
    "huge": b"From: MAILER-DAEMON@example.net\r\nSubject: big\r\n\r\n" + b"x" * (11 * 1024**2),
    "huge without headers": b"\r\n" + b"y" * (11 * 1024**2),
}
# What a person finds in `digest bounces list --outcome held`, per message.
DIAGNOSTICS = {"garbage bytes": None, "no headers": None,
               "utf-8 headers": "Neges heb ei danfon – ŵ",
               "latin-1 headers": "\ufffdchec \ufffd\ufffd", "utf-7 subject": "Cwestiwn x"}


def maildir(root: Path, *messages: bytes) -> Path:
    """A maildir holding `messages` in new/."""
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for n, raw in enumerate(messages):
        (root / "new" / f"{n}.msg").write_bytes(raw)
    return root


def held_in_maildir(root: Path) -> int:
    """How many messages the maildir's held folder has, checking nothing else is left."""
    assert list((root / "new").iterdir()) == [] and list((root / "cur").iterdir()) == []
    assert not (root / ".digest.processed").exists()
    return len(list((root / ".digest.held" / "cur").iterdir()))


@pytest.mark.parametrize("name", list(HOSTILE))
def test_an_unparseable_message_is_held_once_over_imap_as_from_a_maildir(
        engine: Engine, session: Session, db_settings: Settings, dovecot: Dovecot,
        tmp_path: Path, name: str) -> None:
    cfg = mailbox(db_settings, dovecot)
    dovecot.append(HOSTILE[name])
    with intake.imap_source(cfg) as source:
        first = intake.take(engine, cfg, source, FeedbackSource.MAILBOX, clock=lambda: NOW)
        again = intake.take(engine, cfg, source, FeedbackSource.MAILBOX, clock=lambda: NOW)
    assert (first.messages, first.held, again.messages) == (1, 1, 0)  # no loop, no crash
    assert dovecot.read() == [] and dovecot.read(PROCESSED) == []
    [kept] = dovecot.read(HELD)
    assert kept.flags == frozenset()  # unread, for a person
    root = maildir(tmp_path / "Maildir", HOSTILE[name])
    from_file = intake.take(engine, cfg, FileSource(root), FeedbackSource.FILE,
                            clock=lambda: NOW)
    assert (from_file.messages, from_file.held) == (1, 1) and held_in_maildir(root) == 1
    # The same bytes are the same record (Dovecot stores bare LFs as CRLF: then two).
    found = events(session)
    assert 1 <= len(found) <= 2 and len(found) == 2 - from_file.repeated
    assert {e.outcome for e in found} == {FeedbackOutcome.HELD}
    for event in found:
        if name.startswith("huge"):
            assert "over the 10485760-byte limit" in (event.diagnostic or "")
        else:
            assert event.diagnostic == DIAGNOSTICS[name]


@pytest.mark.parametrize("start", [b"\r\n", b"\n", b"X-Only-Headers: 1\r\n" * 100],
                         ids=["no headers", "no headers, LF", "1900 bytes of headers"])
def test_two_oversized_messages_that_start_alike_are_two_records(
        engine: Engine, session: Session, db_settings: Settings, dovecot: Dovecot,
        tmp_path: Path, start: bytes) -> None:
    # Their records were keyed on the start alone: the second was "already recorded", one
    # held record for two messages (from an MTA's pipe, where the store is the only record).
    cfg = mailbox(db_settings, dovecot)
    big = [start + b"a" * 5000, start + b"b" * 5000]
    for raw in big:
        dovecot.append(raw)
    source = IMAPSource(dovecot.host, username=dovecot.user, password=dovecot.password,
                        port=dovecot.tls_port, ca_file=dovecot.ca_file, max_message_bytes=1000)
    with source:
        report = intake.take(engine, cfg, source, FeedbackSource.MAILBOX, clock=lambda: NOW)
        again = intake.take(engine, cfg, source, FeedbackSource.MAILBOX, clock=lambda: NOW)
    assert (report.messages, report.held, report.repeated, again.messages) == (2, 2, 0, 0)
    assert len(dovecot.read(HELD)) == 2
    root = maildir(tmp_path / "Maildir", *big)
    report = intake.take(engine, cfg, FileSource(root, max_message_bytes=1000),
                         FeedbackSource.FILE, clock=lambda: NOW)
    assert (report.messages, report.held, report.repeated) == (2, 2, 0)
    assert held_in_maildir(root) == 2
    for raw in (start + b"c" * 5000, start + b"d" * 5000):
        piped = FileSource("-", stdin=io.BytesIO(raw), max_message_bytes=1000)
        report = intake.take(engine, cfg, piped, FeedbackSource.FILE, clock=lambda: NOW)
        assert (report.messages, report.held, report.repeated) == (1, 1, 0)
    assert len(events(session)) == 6
    # Read again (a crash before the move, or the same mail handed over twice), each message
    # is the record it was.
    for path in (root / ".digest.held" / "cur").iterdir():
        path.rename(root / "new" / path.name.split(":")[0])
    report = intake.take(engine, cfg, FileSource(root, max_message_bytes=1000),
                         FeedbackSource.FILE, clock=lambda: NOW)
    assert (report.messages, report.repeated) == (2, 2) and len(events(session)) == 6
