"""`digest bounces …` (poll, process, purge, list, raw), the bounce lines of `digest issue
status`, and `digest subscribers show`.

Exit codes follow sysexits.h, so that cron, systemd and MTAs can tell what to do: 75
(EX_TEMPFAIL) when trying again later may work (the IMAP server or the database is down, an
mbox is locked); an MTA piping a message in (`| digest bounces process -`) then keeps it
queued and delivers it again. 78 (EX_CONFIG) when no mailbox is configured; 1 when a person
must change something (credentials, a certificate, a path).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from digest.cli.common import fail, int_argument, int_option, out, say, store
from digest.tokens import MAX_ID

if TYPE_CHECKING:  # the send's start-up does not load the bounce modules
    from sqlalchemy.engine import Engine

    from digest.bounces.service import IssueFeedback, Purged
    from digest.settings import Settings

EX_TEMPFAIL = 75
EX_CONFIG = 78
MAX_LIMIT = 10_000  # `bounces list --limit`: more than a person reads, far below any overflow

bounces_app = typer.Typer(help="Bounces and complaints: the mailbox, files, records.\n\n"
                          "Example: digest bounces poll",
                          no_args_is_help=True)


@bounces_app.command("poll")
def bounces_poll() -> None:
    """Read the bounce mailbox (DIGEST_BOUNCE_IMAP_*) once, then purge old raw messages.

    Example: digest bounces poll
    """
    from digest.bounces import intake
    from digest.store.models import FeedbackSource

    settings, engine = _store()
    if not settings.bounce_imap_configured:
        raise fail("no bounce mailbox configured: set DIGEST_BOUNCE_IMAP_HOST, "
                   "DIGEST_BOUNCE_IMAP_USERNAME and DIGEST_BOUNCE_IMAP_PASSWORD", EX_CONFIG)
    with _intake_failures():
        with intake.imap_source(settings) as source:
            report = intake.take(engine, settings, source, FeedbackSource.MAILBOX)
        _purge(engine, settings, held=False)
    say(report.summary())


@bounces_app.command("process")
def bounces_process(
    path: Annotated[str, typer.Argument(
        help="An .eml file, a directory of them, an mbox, a maildir, or - for one message "
             "on standard input (from an MTA)")],
) -> None:
    """Record returned messages from files or standard input.

    A maildir's messages move to its digest/processed or digest/held folder; other files
    are left as they are. From standard input a message that is not understood is kept in
    the database (see `digest bounces list --outcome held`); exit 75 means "keep it and try
    again later" to the MTA.

    Example: digest bounces process /var/mail/bounces
    """
    from digest.bounces import intake
    from digest.bounces.sources.files import FileSource
    from digest.store.models import FeedbackSource

    with _intake_failures():
        settings, engine = _store()
        with FileSource(path, stdin=sys.stdin.buffer) as source:
            report = intake.take(engine, settings, source, FeedbackSource.FILE)
    say(report.summary())


@bounces_app.command("purge")
def bounces_purge(
    held: Annotated[bool, typer.Option(
        "--held", help="Also drop held messages past the retention")] = False,
) -> None:
    """Drop raw messages older than DIGEST_BOUNCE_RAW_RETENTION_DAYS (the records stay).

    Example: digest bounces purge
    """
    settings, engine = _store()
    purged = _purge(engine, settings, held=held)
    out.print(f"dropped {purged.raw} raw message(s) older than "
              f"{settings.bounce_raw_retention_days:g} days and {purged.nonces} old webhook "
              "nonce(s)", highlight=False)


@bounces_app.command("list")
def bounces_list(
    outcome: Annotated[str | None, typer.Option(
        help="Only applied, ignored, unmatched or held")] = None,
    limit: Annotated[int, int_option(1, MAX_LIMIT, help="How many, newest first")] = 20,
) -> None:
    """The latest recorded reports: what came in and what the policy did.

    Example: digest bounces list --outcome held
    """
    from digest.bounces import service
    from digest.store.db import session_scope
    from digest.store.models import FeedbackOutcome

    try:
        wanted = FeedbackOutcome(outcome) if outcome else None
    except ValueError:
        raise fail(f"--outcome must be one of {', '.join(o.value for o in FeedbackOutcome)}",
                   2) from None
    _, engine = _store()
    with session_scope(engine) as session:
        rows = service.recent(session, wanted, limit)
    for r in rows:
        say(f"#{r.id} {r.received_at:%Y-%m-%d %H:%M} {r.source.value} {r.kind.value} "
            f"{r.outcome.value} {r.recipient or '-'} {r.status or '-'}: {r.detail}"
            + (f" ({r.diagnostic})" if r.diagnostic else ""))  # a stranger's text: escaped
    if not rows:
        out.print("nothing recorded", highlight=False)


@bounces_app.command("raw")
def bounces_raw(
    record: Annotated[int, int_argument(1, MAX_ID, help="The number `list` shows")],
) -> None:
    """Write a recorded message, as received, to standard output (until it is purged).

    Example: digest bounces raw 42 > held.eml
    """
    from digest.bounces import service
    from digest.store.db import session_scope

    _, engine = _store()
    with session_scope(engine) as session:
        raw = service.raw_message(session, record)
    if raw is None:
        raise fail(f"no raw message kept for #{record} (unknown, or purged)")
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()


def feedback_lines(feedback: IssueFeedback) -> list[str]:
    """The bounce and complaint lines of `digest issue status`."""
    line = ("above" if feedback.over_complaint_line else "below")
    return [
        f"bounces: {feedback.hard} hard ({feedback.bounce_rate:.2%} of {feedback.sent} sent), "
        f"{feedback.soft} soft, {feedback.refused} refused by the relay; "
        f"{feedback.bounced} subscriber(s) bounced",
        f"complaints: {feedback.complaints} ({feedback.complaint_rate:.2%}), {line} Gmail's "
        f"0.3% line; {feedback.unsubscribed} subscriber(s) unsubscribed",
    ]


def feedback_json(feedback: IssueFeedback) -> dict[str, Any]:
    """The bounce and complaint part of `digest issue status --json`."""
    from digest.bounces.policy import GMAIL_COMPLAINT_LINE

    return {"sent": feedback.sent, "hard": feedback.hard, "soft": feedback.soft,
            "refused": feedback.refused, "complaints": feedback.complaints,
            "bounced": feedback.bounced, "unsubscribed": feedback.unsubscribed,
            "bounce_rate": feedback.bounce_rate, "complaint_rate": feedback.complaint_rate,
            "complaint_line": GMAIL_COMPLAINT_LINE,
            "over_complaint_line": feedback.over_complaint_line}


def _store() -> tuple[Settings, Engine]:
    """Settings and a migrated engine; a database that cannot be reached is EX_TEMPFAIL."""
    try:
        return store()
    except _database_errors() as exc:
        raise fail(f"database: {_one_line(exc)}", EX_TEMPFAIL) from None


@contextmanager
def _intake_failures() -> Iterator[None]:
    """A source or the database failing as a one-line error and its exit code: EX_TEMPFAIL
    when trying again later may work, 1 when a person must change something."""
    from digest.bounces.sources.base import SourceError

    try:
        yield
    except SourceError as exc:
        raise fail(str(exc), EX_TEMPFAIL if exc.temporary else 1) from None
    except _database_errors() as exc:
        raise fail(f"database: {_one_line(exc)}", EX_TEMPFAIL) from None


def _purge(engine: Engine, settings: Settings, *, held: bool) -> Purged:
    from digest.bounces import service
    from digest.store.db import session_scope

    with session_scope(engine, write=True) as session:
        return service.purge(session, settings, held=held)


def _database_errors() -> tuple[type[BaseException], ...]:
    import sqlalchemy as sa

    return (sa.exc.OperationalError, sa.exc.InterfaceError)


def _one_line(exc: BaseException) -> str:
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return first[0][:300] if first else exc.__class__.__name__
