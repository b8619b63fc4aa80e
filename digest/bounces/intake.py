"""Reading a bounce source into the store, in the order that makes a crash harmless.

For each message: record it and **commit**, then tell the source `done` (or `held`). A crash
between the two leaves the message in the source; the next poll reads it again and recording
it is a no-op (reports are keyed on their event id), after which it is moved. So every
message is processed at least once, and applied exactly once.

A message is held (the IMAP held folder, the maildir's held folder) when one of its reports
was not understood, or when the source could not hand it over whole; it is recorded as held
in the store in either case, with its raw bytes, which `service.purge` keeps for held
reports: for a message piped from an MTA the store is its only copy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.bounces import service
from digest.bounces.sources.base import Incoming, Source, SourceError
from digest.bounces.sources.imap import IMAPSource
from digest.settings import Settings
from digest.store.db import session_scope
from digest.store.models import FeedbackOutcome, FeedbackSource, SubscriberState, now_utc


@dataclass
class IntakeReport:
    """What one pass over a source did."""

    messages: int = 0
    held: int = 0  # messages set aside for a person
    outcomes: Counter[str] = field(default_factory=Counter)  # new reports by outcome
    repeated: int = 0  # reports recorded before (a message read again after a crash)
    bounced: int = 0
    unsubscribed: int = 0

    def add(self, results: list[service.Processed], held: bool) -> None:
        """Count one message's results."""
        self.messages += 1
        self.held += held
        for result in results:
            if not result.new:
                self.repeated += 1
                continue
            self.outcomes[result.outcome.value] += 1
            self.bounced += result.new_state is SubscriberState.BOUNCED
            self.unsubscribed += result.new_state is SubscriberState.UNSUBSCRIBED

    def summary(self) -> str:
        """One line for people."""
        counts = ", ".join(f"{self.outcomes[o.value]} {o.value}" for o in FeedbackOutcome)
        return (f"{self.messages} message(s): {counts}; {self.bounced} subscriber(s) bounced, "
                f"{self.unsubscribed} unsubscribed; {self.held} held for a person"
                + (f"; {self.repeated} report(s) already recorded" if self.repeated else ""))


def imap_source(settings: Settings) -> IMAPSource:
    """The bounce mailbox the settings describe; `SourceError` if it is not configured."""
    password = settings.bounce_imap_password
    if not (settings.bounce_imap_configured and settings.bounce_imap_host
            and settings.bounce_imap_username and password):
        raise SourceError("no bounce mailbox configured: set DIGEST_BOUNCE_IMAP_HOST, "
                          "DIGEST_BOUNCE_IMAP_USERNAME and DIGEST_BOUNCE_IMAP_PASSWORD",
                          temporary=False)
    return IMAPSource(
        settings.bounce_imap_host, username=settings.bounce_imap_username,
        password=password.get_secret_value(), port=settings.bounce_imap_port,
        security=settings.bounce_imap_security, ca_file=settings.bounce_imap_ca_file,
        mailbox=settings.bounce_imap_mailbox,
        processed_folder=settings.bounce_imap_processed_folder,
        held_folder=settings.bounce_imap_held_folder)


def record(engine: Engine, settings: Settings, item: Incoming, origin: FeedbackSource,
           now: datetime) -> list[service.Processed]:
    """Record one message's reports in one committed transaction. A message whose recording
    fails for any reason but the database being unreachable is rolled back and recorded as
    held instead, so that one message cannot stop the run at itself on every poll."""
    try:
        with session_scope(engine, write=True) as session:
            if item.problem is not None:
                return [service.record_problem(session, origin, item.raw, item.problem,
                                               fingerprint=item.fingerprint, now=now)]
            return service.process_raw(session, settings, item.raw, origin, now=now)
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        raise  # the database, not the message: stop; the message stays for the next poll
    except Exception as exc:
        problem = f"could not be recorded ({type(exc).__name__}): held for a person"
        with session_scope(engine, write=True) as session:
            return [service.record_problem(session, origin, item.raw, problem,
                                           fingerprint=item.fingerprint, now=now)]


def is_held(item: Incoming, results: list[service.Processed]) -> bool:
    """Whether a message goes to a person: incomplete, or a report in it not understood."""
    return item.problem is not None or any(
        r.outcome is FeedbackOutcome.HELD for r in results)


def take(engine: Engine, settings: Settings, source: Source, origin: FeedbackSource, *,
         clock: Callable[[], datetime] = now_utc) -> IntakeReport:
    """Record every message waiting in `source`, then acknowledge it; the caller closes it."""
    report = IntakeReport()
    for item in source.poll():
        results = record(engine, settings, item, origin, clock())
        held = is_held(item, results)
        # Only after the commit: a crash before this line means the message is read again.
        if held:
            source.held(item.key)
        else:
            source.done(item.key)
        report.add(results, held)
    return report
