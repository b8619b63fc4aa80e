"""`digest issue send` and `digest issue status`: the ops' view of a send."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import sqlalchemy as sa
import typer

from digest.cli import errors
from digest.cli.common import (
    debugging,
    fail,
    find_issue,
    int_option,
    load_settings,
    out,
    printable,
    require_secret_key,
    say,
    store,
    warn,
    write_data,
)
from digest.settings import MAX_CONNECTIONS, SettingInvalid, Settings
from digest.store.db import session_scope
from digest.store.models import Issue, Language, now_utc

if TYPE_CHECKING:  # the delivery modules are imported by the functions that use them
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from digest.delivery import run


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def issue_send(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show what would be sent, to how many, in which languages")] = False,
    test_to: Annotated[list[str] | None, typer.Option(
        "--test-to", help="Send every variant to this address only (repeatable); "
        "the outbox is not touched")] = None,
    connections: Annotated[int | None, int_option(
        1, MAX_CONNECTIONS, help="SMTP connections (default: DIGEST_SMTP_CONNECTIONS)")]
    = None,
    wait_retries: Annotated[bool, typer.Option(
        "--wait-retries/--no-wait-retries",
        help="Stay until temporary failures are retried or reach their deadline")] = True,
    allow_redirect: Annotated[bool, typer.Option(
        "--allow-redirect", help="Run a real send although DIGEST_REDIRECT_ALL_TO is set")]
    = False,
) -> None:
    """Send an issue to every active subscriber; safe to re-run and to run twice at once.

    Example: digest issue send 2026-09 --dry-run
    """
    from digest.delivery import run
    from digest.delivery.transports import factory

    require_secret_key(load_settings())  # before anything else: the messages carry tokens
    addresses = _addresses(test_to or [])
    settings, engine = store()
    with session_scope(engine) as session:
        issue_id = find_issue(session, issue).id or 0  # resolved once, here at the edge
    if dry_run:
        run.preflight(settings)  # what the send would refuse (a DKIM key...), the dry run too
        _print_dry_run(engine, settings, issue)
        return
    if addresses:
        _send_tests(settings, engine, issue_id, addresses)
        return
    if allow_redirect and not settings.redirect_all_to:
        # The option says "this is a staging run": without the redirect it would be the real
        # send to everyone (a mistyped DIGEST_REDIRECT_ALL_TO is only a warning).
        raise fail("--allow-redirect asks for a staging run, but DIGEST_REDIRECT_ALL_TO is "
                   "not set: every subscriber would be mailed. Set it, or leave out "
                   "--allow-redirect for the real send; nothing was sent.")
    if settings.redirect_all_to and not allow_redirect:
        raise fail(f"DIGEST_REDIRECT_ALL_TO={settings.redirect_all_to} is set: every message "
                    "would go there and the outbox would be marked sent. Unset it, or pass "
                    "--allow-redirect for a staging run.")
    stop = threading.Event()
    for sig in _STOP_SIGNALS:
        # A hangup (the terminal or ssh session gone) stops cleanly too, unless it is ignored
        # (`nohup`): the claims go back at once instead of after the lease, and no duplicates.
        if sig != signal.SIGHUP or signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, lambda *_: stop.set())
    try:
        with _progress(engine, settings, issue) as on_progress:
            report = run.send_issue(
                engine, settings, issue_id, factory.transport_factory(settings),
                connections=connections or settings.send_connections,
                stop=stop, wait_for_retries=wait_retries, on_progress=on_progress)
    except SettingInvalid as exc:  # found before the send wrote anything
        raise fail(str(exc), errors.Exit.CONFIG) from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    except sa.exc.DBAPIError as exc:  # the rows it could not record stay claimed: resumable
        raise fail(f"{errors.database_name(settings)}: {errors.first_line(exc)}; nothing is "
                   f"lost: once it is back, resume with: digest issue send {issue}",
                   errors.Exit.DATABASE) from None
    _report(settings, report)


def _report(settings: Settings, report: run.SendReport) -> None:
    """The summary line of a send run, and its exit code when it stopped with work left."""
    period = report.issue_period
    if report.already_sent:
        say(f"issue {period} was sent already; nothing to do")
        return
    sent = ", ".join(f"{n} {lang}" for lang, n in sorted(report.sent.items()) if n) or "none"
    failures = _nonzero((report.retry, "temporary failure", "temporary failures"),
                        (report.failed, "permanent", "permanent"))
    say(f"issue {period}: {report.created} new outbox row(s); sent {sent}; "
        + (f"{failures}; " if failures else "") + f"{report.left.total} left")
    if settings.transport == "file":
        say(f"files in {settings.outbox_dir.resolve()}")
    resume = f"resume with: digest issue send {period}"
    if report.relay_error and report.left.total:
        raise fail(f"{report.relay_error}; {report.left.total} left, {resume}",
                   errors.Exit.TEMPFAIL)
    if report.relay_error:
        warn(f"warning: {report.relay_error} (other connections finished the work)")
    if (bug := report.internal_error) is not None:  # not a signal: say so, not "stopped"
        if any(debugging):
            raise bug
        raise fail(f"internal error in the transport: {bug.__class__.__name__}: "
                   f"{errors.first_line(bug)}; the run stopped, {report.left.total} left, "
                   f"{resume} (run again with --debug for the traceback)", errors.Exit.INTERNAL)
    if report.stopped:
        say(f"stopped; {resume}")
        raise typer.Exit(errors.Exit.STOPPED)


def _nonzero(*counts: tuple[int, str, str]) -> str:
    """The counts that are not zero, each with its word (singular, plural), comma-separated:
    a line about a send says "failed 0, retrying 0" about nothing."""
    return ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts if n)


def _problems(report: run.SendReport) -> str:
    """What went wrong so far, for a progress line: empty while nothing has."""
    return _nonzero((report.failed, "failed", "failed"), (report.retry, "retrying", "retrying"))


def _addresses(raw: list[str]) -> list[str]:
    """The --test-to addresses, checked like an import's; a bad one is a usage error."""
    if not raw:  # a real send: it need not load the CSV importer
        return []
    from digest.audience.csv_import import normalise_email

    checked: dict[str, None] = {}  # one test per address, however often (or in what case) given
    for address in raw:
        if "," in address or ";" in address:
            raise typer.BadParameter(f"{printable(address)!r}: one address per --test-to "
                                     "(repeat it: --test-to a@example.org --test-to "
                                     "b@example.org)", param_hint="--test-to")
        try:
            normal = normalise_email(address)
        except ValueError as exc:
            raise typer.BadParameter(f"{printable(address)!r}: {exc}",
                                     param_hint="--test-to") from None
        checked[normal] = None  # normalise_email lower-cases: one key per address
    return list(checked)


def _send_tests(settings: Settings, engine: Engine, issue_id: int, addresses: list[str]) -> None:
    """Send each variant to each address; exit 75 (relay) or 1 (refused) unless all went."""
    from digest.delivery import proofs
    from digest.delivery.transports import factory
    from digest.delivery.transports.base import Outcome

    transport = factory.transport_factory(settings)()
    try:
        results = proofs.send_tests(settings, engine, issue_id, addresses, transport)
    except proofs.NoVariant as exc:
        transport.close()
        raise fail(str(exc)) from None
    for address, lang, reply, _ in results:
        say(f"test {lang:>4} -> {address}: {reply}")
    outcomes = {outcome for *_, outcome in results}
    if Outcome.TEMPORARY in outcomes:
        raise fail("not every test was accepted; try again later", errors.Exit.TEMPFAIL)
    if Outcome.PERMANENT in outcomes:
        raise fail("the relay refused a test message")


@contextmanager
def _progress(engine: Engine, settings: Settings, issue: str) -> Iterator[
        Callable[[run.SendReport], None]]:
    """A rich progress bar on a terminal, plain log lines otherwise."""
    from digest.delivery import outbox
    from digest.issue import service

    with session_scope(engine) as session:
        row = service.get_issue(session, issue)
        total = outbox.open_work(session, row.id or 0, now_utc(),
                                 settings.claim_lease).total
        total += sum(outbox.audience(session).values()) if total == 0 else 0
    started = time.monotonic()
    if out.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[problems]}"), TextColumn("{task.fields[rate]}"),
                   TimeRemainingColumn())
        with Progress(*columns, console=out) as bar:
            task = bar.add_task("sending", total=total, problems="", rate="")

            def update(r: run.SendReport) -> None:
                rate = r.total_sent / max(time.monotonic() - started, 1e-6)
                bar.update(task, completed=r.total_sent + r.failed, problems=_problems(r),
                           rate=f"{rate:,.0f} msg/s")

            yield update
        return
    last = [0.0]

    def log_line(r: run.SendReport) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0:
            last[0] = now
            say(progress_line(r, total, now - started))

    yield log_line


def progress_line(report: run.SendReport, total: int, seconds: float) -> str:
    """`sent 120/35000, 2 failed, 1 retrying, 26 msg/s`: the counts that are zero left out."""
    problems = _problems(report)
    return (f"sent {report.total_sent}/{total}, " + (f"{problems}, " if problems else "")
            + f"{report.total_sent / max(seconds, 1e-6):,.0f} msg/s")


def _print_dry_run(engine: Engine, settings: Settings, issue: str) -> None:
    from digest.delivery import outbox

    with session_scope(engine) as session:
        row = find_issue(session, issue)
        reach = outbox.audience(session)
        state = outbox.status(session, row.id or 0)
        work = outbox.open_work(session, row.id or 0, now_utc(),
                                settings.claim_lease)
        held = _withdrawn(session, row)
    done = sum(state.counts.get("sent", {}).values())
    say(f"issue {row.period} ({row.state.value}): dry run, nothing sent")
    if held:
        warn(f"warning: the send would be refused: {held}")
    say(f"active subscribers: {sum(reach.values())} "
        f"(cy {reach['cy']}, en {reach['en']}, both {reach['both']})")
    say(f"already sent: {done}; open outbox rows: {work.total}")
    say(f"transport: {settings.transport}"
        + (f" {settings.smtp_host}:{settings.smtp_port}" if settings.transport == "smtp"
           else f" -> {settings.outbox_dir}")
        + (f"; REDIRECTED to {settings.redirect_all_to}" if settings.redirect_all_to
           else ""))


def _withdrawn(session: Session, row: Issue) -> str:
    """Why the send would be refused for its withdrawn items (lifecycle.refuse_first_send)."""
    from digest.issue import lifecycle

    try:
        lifecycle.refuse_first_send(session, row)
    except lifecycle.WithdrawnItems as exc:
        return str(exc)
    return ""


def issue_status(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Counts by state and language, the last errors, and what a resume would do.

    Example: digest issue status 2026-09 --json
    """
    from rich.table import Table

    from digest.bounces.service import issue_feedback
    from digest.cli.bounces import feedback_json, feedback_lines
    from digest.delivery import outbox

    settings, engine = store()
    with session_scope(engine) as session:
        row = find_issue(session, issue)
        state = outbox.status(session, row.id or 0)
        work = outbox.open_work(session, row.id or 0, now_utc(),
                                settings.claim_lease)
        feedback = issue_feedback(session, row.id or 0)
    resume = {"send_now": work.pending + work.retry_due + work.stale,
              "retry_later": work.retry_later,
              "next_retry_at": work.next_retry_at.isoformat() if work.next_retry_at else None,
              "in_flight_elsewhere": work.in_flight}
    if as_json:
        payload = {"issue": row.period, "state": row.state.value,
                   "counts": {k: dict(v) for k, v in state.counts.items()},
                   "errors": [{"email": e, "state": st, "error": msg}
                              for e, st, msg in state.errors],
                   "resume": resume, "feedback": feedback_json(feedback)}
        write_data([json.dumps(payload, ensure_ascii=False, indent=2), "\n"])
        return
    table = Table(title=f"issue {row.period}: {row.state.value}")
    table.add_column("state")
    for lang in Language:
        table.add_column(lang.value, justify="right")
    table.add_column("total", justify="right")
    for st, by_lang in sorted(state.counts.items()):
        table.add_row(st, *(str(by_lang.get(lang.value, 0)) for lang in Language),
                      str(sum(by_lang.values())))
    out.print(table)
    for email, st, msg in state.errors:
        say(f"{st}: {email}: {msg}")
    say(f"a resume would send {resume['send_now']} now, retry {work.retry_later} later"
        + (f" (next at {resume['next_retry_at']})" if work.next_retry_at else "")
        + (f"; {work.in_flight} in flight in another sender" if work.in_flight else ""))
    for line in feedback_lines(feedback):
        say(line)

