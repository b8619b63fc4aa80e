"""The `digest` command: a thin layer over the services (one service call per command)."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest import content, deliver, issues, lifecycle, outbox
from digest.db import current_revision, engine_from, session_scope, upgrade
from digest.demo import DEMO_AS_OF, run_demo
from digest.models import Issue, Language, now_utc
from digest.settings import Settings

if TYPE_CHECKING:  # imported by the commands that use them: a send need not load them
    from digest import scheduler

app = typer.Typer(help="Bilingual (Welsh/English) research digest.", no_args_is_help=True,
                  rich_markup_mode=None)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
content_app = typer.Typer(help="Editorial content.", no_args_is_help=True)
subs_app = typer.Typer(help="Subscribers.", no_args_is_help=True)
issue_app = typer.Typer(help="Monthly issues: plan, preview, send.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(content_app, name="content")
app.add_typer(subs_app, name="subscribers")
app.add_typer(issue_app, name="issue")
sched_app = typer.Typer(help="The monthly schedule (APScheduler).")
app.add_typer(sched_app, name="scheduler")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _settings() -> Settings:
    return Settings()


def _parse_as_of(value: str | None, settings: Settings) -> datetime:
    """ISO date or datetime in the editorial time zone (default: now)."""
    if value is None:
        return now_utc()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-09-07 or "
                                 "2026-09-07T09:00", param_hint="--as-of") from None
    return content.to_utc(moment, settings.tz)


def _store() -> tuple[Settings, Engine]:
    """Settings, and an engine on a database migrated to the latest schema."""
    settings = _settings()
    engine = engine_from(settings)
    upgrade(engine)
    return settings, engine


def _issue(session: Session, ref: str) -> Issue:
    """The issue `ref` names, or exit with a clear error."""
    try:
        return issues.get_issue(session, ref)
    except issues.IssueNotFound as exc:
        raise _fail(str(exc)) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations.

    Example: digest db upgrade
    """
    settings, engine = _store()
    out.print(f"database at revision {current_revision(engine)} ({settings.database_url})")


@content_app.command("sync")
def content_sync(
    directory: Annotated[Path | None, typer.Argument(help="Content folder (default: ./content)")]
    = None,
) -> None:
    """Validate content files and upsert them, all or nothing.

    Example: digest content sync content/
    """
    settings = _settings()
    try:
        items = content.load_dir(directory or settings.content_dir)
    except content.ContentInvalid as exc:
        for e in exc.errors:
            err.print(str(e), highlight=False, markup=False)
        raise _fail(f"{len(exc.errors)} problem(s); nothing was applied") from None
    engine = engine_from(settings)
    upgrade(engine)
    with session_scope(engine) as session:
        report = content.sync(session, items, settings.tz)
    out.print(f"{len(items)} item(s): {report.total(report.created)} created, "
              f"{report.total(report.updated)} updated, "
              f"{report.total(report.unchanged)} unchanged")


@subs_app.command("import")
def subscribers_import(
    file: Annotated[Path, typer.Argument(help="CSV with columns email,name,language")],
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Import the good lines even if some lines are bad")] = False,
) -> None:
    """Import subscribers from CSV, all or nothing.

    Example: digest subscribers import subscribers/example.csv
    """
    from digest import subscribers

    _, engine = _store()
    try:
        with session_scope(engine) as session:
            report = subscribers.import_file(session, file, skip_invalid=skip_invalid)
    except subscribers.ImportInvalid as exc:
        for e in exc.errors:
            err.print(str(e), highlight=False, markup=False)
        raise _fail(f"{len(exc.errors)} bad line(s); nothing was imported "
                    "(use --skip-invalid to import the good lines)") from None
    for note in report.duplicates:
        out.print(note, highlight=False)
    for e in report.errors:
        err.print(f"skipped {e}", highlight=False, markup=False)
    out.print(f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
              f"{report.kept_inactive} left unsubscribed/bounced, {len(report.errors)} skipped")


@issue_app.command("plan")
def issue_plan(
    as_of: Annotated[str | None, typer.Option(
        help="Plan as of this local date/time (Europe/London), e.g. 2026-09-07T09:00")] = None,
) -> None:
    """Plan and render the issue for the month of --as-of.

    Example: digest issue plan --as-of 2026-09-07
    """
    settings = _settings()
    moment = _parse_as_of(as_of, settings)
    engine = engine_from(settings)
    upgrade(engine)
    with session_scope(engine) as session:
        outcome = issues.plan(session, settings, moment)
    out.print(outcome.message, highlight=False)


@issue_app.command("list")
def issue_list() -> None:
    """All issues with state, period, items and send progress.

    Example: digest issue list
    """
    _, engine = _store()
    table = Table(title="issues")
    for name in ("id", "period", "state", "items", "sent", "open", "send after"):
        table.add_column(name)
    with session_scope(engine) as session:
        for row in issues.list_issues(session):
            table.add_row(str(row.id), row.period, row.state, str(row.items), str(row.sent),
                          str(row.open), row.send_after or "-")
    out.print(table)


@issue_app.command("show")
def issue_show(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
) -> None:
    """An issue's items, translation check and history.

    Example: digest issue show 2026-09
    """
    settings = _settings()
    engine = engine_from(settings)
    with session_scope(engine) as session:
        row = _issue(session, issue)
        content = issues.load_content(session, settings, row)
        problems = lifecycle.check_translations(session, row)
        events = lifecycle.history(session, row)
        stored = issues.variants(session, row)
    out.print(f"issue {row.period} (#{row.id}): {row.state.value}; items published after "
              f"{row.since_at:%Y-%m-%d %H:%M} UTC up to {row.cutoff_at:%Y-%m-%d %H:%M} UTC",
              highlight=False)
    for lang, variant in sorted(stored.items()):
        out.print(f"  {lang.value:>4}: {variant.subject}  ({len(variant.html.encode()):,} "
                  "bytes HTML)", highlight=False)
    for label, views in (("review", content.reviews), ("seminar", content.seminars),
                         ("news", content.news)):
        for view in views:
            out.print(f"  {label}: {view.title('en').value} / {view.title('cy').value}",
                      highlight=False)
    out.print("translation check: " + ("passes" if not problems else
                                        f"{len(problems)} problem(s)"), highlight=False)
    for p in problems:
        out.print(f"  {p}", highlight=False)
    for e in events:
        out.print(f"  {e.at:%Y-%m-%d %H:%M} {e.actor}: {e.action}"
                  + (f" - {e.detail}" if e.detail else ""), highlight=False, markup=False)


@issue_app.command("approve")
def issue_approve(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    force: Annotated[bool, typer.Option(
        "--force", help="Approve although the translation check fails (needs --reason)")]
    = False,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the history")] = None,
    actor: Annotated[str, typer.Option("--as", help="Who approves")] = "cli",
) -> None:
    """Approve a draft for sending; refused while Welsh or English text is missing.

    Example: digest issue approve 2026-09 --as "Siân (editor)"
    """
    if force and not reason:
        raise _fail("--force needs --reason")
    engine = engine_from(_settings())
    try:
        with session_scope(engine, write=True) as session:
            row = issues.get_issue(session, issue)
            forced = lifecycle.approve(session, row, actor,
                                       force_reason=reason if force else None)
    except lifecycle.TranslationCheckFailed as exc:
        for p in exc.problems:
            err.print(p, highlight=False, markup=False)
        raise _fail("translation check failed; fix the content and replan, or approve with "
                    "--force --reason \"...\"") from None
    except (issues.IssueNotFound, lifecycle.TransitionError) as exc:
        raise _fail(str(exc)) from None
    out.print(f"issue {row.period} approved by {actor}"
              + (f" despite {len(forced)} translation problem(s)" if forced else ""),
              highlight=False)


@issue_app.command("cancel")
def issue_cancel(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    reason: Annotated[str, typer.Option(help="Why; recorded in the history")],
    actor: Annotated[str, typer.Option("--as", help="Who cancels")] = "cli",
) -> None:
    """Cancel a draft or approved issue.

    Example: digest issue cancel 2026-09 --reason "merged into October"
    """
    engine = engine_from(_settings())
    try:
        with session_scope(engine, write=True) as session:
            row = issues.get_issue(session, issue)
            lifecycle.cancel(session, row, actor, reason)
    except (issues.IssueNotFound, lifecycle.TransitionError) as exc:
        raise _fail(str(exc)) from None
    out.print(f"issue {row.period} cancelled", highlight=False)


@issue_app.command("replan")
def issue_replan(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    as_of: Annotated[str | None, typer.Option(help="Re-select as of this local time")] = None,
    actor: Annotated[str, typer.Option("--as", help="Who replans")] = "cli",
) -> None:
    """Re-select a draft's items and re-render it (only while draft).

    Example: digest issue replan 2026-09 --as-of 2026-09-08T09:00
    """
    settings = _settings()
    engine = engine_from(settings)
    moment = _parse_as_of(as_of, settings)
    try:
        with session_scope(engine, write=True) as session:
            row = issues.get_issue(session, issue)
            result = issues.replan(session, settings, row, moment, actor)
    except (issues.IssueNotFound, lifecycle.TransitionError, ValueError) as exc:
        raise _fail(str(exc)) from None
    out.print(f"replanned issue {row.period}: {len(result.reviews)} review(s), "
              f"{len(result.seminars)} seminar(s), {len(result.news)} news item(s)",
              highlight=False)


@issue_app.command("preview")
def issue_preview(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    lang: Annotated[Language, typer.Option("--lang", help="cy, en or both")] = Language.BOTH,
    out_dir: Annotated[Path | None, typer.Option(help="Folder (default: var/preview)")] = None,
) -> None:
    """Write a variant's HTML and text to files.

    Example: digest issue preview 2026-09 --lang cy
    """
    settings = _settings()
    engine = engine_from(settings)
    try:
        with session_scope(engine) as session:
            paths = issues.write_preview(session, issues.get_issue(session, issue), lang,
                                         out_dir or settings.preview_dir)
    except issues.IssueNotFound as exc:
        raise _fail(str(exc)) from None
    for p in paths:
        out.print(f"wrote {p.resolve()}", highlight=False)


@issue_app.command("send")
def issue_send(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show what would be sent, to how many, in which languages")] = False,
    test_to: Annotated[list[str] | None, typer.Option(
        "--test-to", help="Send every variant to this address only (repeatable); "
        "the outbox is not touched")] = None,
    connections: Annotated[int | None, typer.Option(
        help="SMTP connections (default: DIGEST_SMTP_CONNECTIONS)")] = None,
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
    settings, engine = _store()
    if dry_run:
        _print_dry_run(engine, settings, issue)
        return
    if test_to:
        try:
            results = deliver.send_tests(settings, engine, issue, test_to,
                                         deliver.transport_factory(settings)())
        except issues.IssueNotFound as exc:
            raise _fail(str(exc)) from None
        for address, lang, reply in results:
            out.print(f"test {lang:>4} -> {address}: {reply}", highlight=False)
        return
    if settings.redirect_all_to and not allow_redirect:
        raise _fail(f"DIGEST_REDIRECT_ALL_TO={settings.redirect_all_to} is set: every message "
                    "would go there and the outbox would be marked sent. Unset it, or pass "
                    "--allow-redirect for a staging run.")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with _progress(engine, settings, issue) as on_progress:
            report = deliver.send_issue(
                engine, settings, issue, deliver.transport_factory(settings),
                connections=connections or (
                    settings.smtp_connections if settings.transport == "smtp" else 1),
                stop=stop, wait_for_retries=wait_retries, on_progress=on_progress)
    except (issues.IssueNotFound, ValueError) as exc:
        raise _fail(str(exc)) from None
    sent = ", ".join(f"{n} {lang}" for lang, n in sorted(report.sent.items())) or "none"
    out.print(f"issue {report.issue_period}: {report.created} new outbox row(s); sent {sent}; "
              f"{report.retry} temporary failure(s), {report.failed} permanent; "
              f"{report.left.total} left", highlight=False)
    if settings.transport == "file":
        out.print(f"files in {settings.outbox_dir.resolve()}", highlight=False)
    if report.stopped:
        out.print(f"stopped; resume with: digest issue send {report.issue_period}")
        raise typer.Exit(130)


@contextmanager
def _progress(engine: Engine, settings: Settings, issue: str) -> Iterator[
        Callable[[deliver.SendReport], None]]:
    """A rich progress bar on a terminal, plain log lines otherwise."""
    with session_scope(engine) as session:
        row = issues.get_issue(session, issue)
        total = outbox.open_work(session, row.id or 0, now_utc(),
                                 timedelta(seconds=settings.claim_lease_seconds)).total
        total += sum(outbox.audience(session).values()) if total == 0 else 0
    started = time.monotonic()
    if out.is_terminal:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[failed]} failed"), TextColumn("{task.fields[rate]}"),
                   TimeRemainingColumn())
        with Progress(*columns, console=out) as bar:
            task = bar.add_task("sending", total=total, failed=0, rate="")

            def update(r: deliver.SendReport) -> None:
                rate = r.total_sent / max(time.monotonic() - started, 1e-6)
                bar.update(task, completed=r.total_sent + r.failed, failed=r.failed,
                           rate=f"{rate:,.0f} msg/s")

            yield update
        return
    last = [0.0]

    def log_line(r: deliver.SendReport) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0:
            last[0] = now
            rate = r.total_sent / max(now - started, 1e-6)
            out.print(f"sent {r.total_sent}/{total}, failed {r.failed}, retrying {r.retry}, "
                      f"{rate:,.0f} msg/s", highlight=False)

    yield log_line


def _print_dry_run(engine: Engine, settings: Settings, issue: str) -> None:
    with session_scope(engine) as session:
        row = _issue(session, issue)
        reach = outbox.audience(session)
        state = outbox.status(session, row.id or 0)
        work = outbox.open_work(session, row.id or 0, now_utc(),
                                timedelta(seconds=settings.claim_lease_seconds))
    done = sum(state.counts.get("sent", {}).values())
    out.print(f"issue {row.period} ({row.state.value}): dry run, nothing sent", highlight=False)
    out.print(f"active subscribers: {sum(reach.values())} "
              f"(cy {reach['cy']}, en {reach['en']}, both {reach['both']})", highlight=False)
    out.print(f"already sent: {done}; open outbox rows: {work.total}", highlight=False)
    out.print(f"transport: {settings.transport}"
              + (f" {settings.smtp_host}:{settings.smtp_port}" if settings.transport == "smtp"
                 else f" -> {settings.outbox_dir}")
              + (f"; REDIRECTED to {settings.redirect_all_to}" if settings.redirect_all_to
                 else ""), highlight=False)


@issue_app.command("status")
def issue_status(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Counts by state and language, the last errors, and what a resume would do.

    Example: digest issue status 2026-09 --json
    """
    settings = _settings()
    engine = engine_from(settings)
    with session_scope(engine) as session:
        row = _issue(session, issue)
        state = outbox.status(session, row.id or 0)
        work = outbox.open_work(session, row.id or 0, now_utc(),
                                timedelta(seconds=settings.claim_lease_seconds))
    resume = {"send_now": work.pending + work.retry_due + work.stale,
              "retry_later": work.retry_later,
              "next_retry_at": work.next_retry_at.isoformat() if work.next_retry_at else None,
              "in_flight_elsewhere": work.in_flight}
    if as_json:
        print(json.dumps({"issue": row.period, "state": row.state.value,
                          "counts": {k: dict(v) for k, v in state.counts.items()},
                          "errors": [{"email": e, "state": st, "error": msg}
                                     for e, st, msg in state.errors],
                          "resume": resume}, ensure_ascii=False, indent=2))
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
        out.print(f"{st}: {email}: {msg}", highlight=False, markup=False)
    out.print(f"a resume would send {resume['send_now']} now, retry {work.retry_later} later"
              + (f" (next at {resume['next_retry_at']})" if work.next_retry_at else "")
              + (f"; {work.in_flight} in flight in another sender" if work.in_flight else ""),
              highlight=False)


def _scheduler_runtime() -> tuple[Settings, scheduler.Runtime]:
    from digest import scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings, engine = _store()
    return settings, scheduler.Runtime(settings, engine, deliver.transport_factory(settings))


@sched_app.callback(invoke_without_command=True)
def scheduler_run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(
        "--once", help="Run whatever is due now and exit (for cron or a Kubernetes CronJob)")]
    = False,
) -> None:
    """Run the plan and send jobs on their schedule until SIGTERM.

    Example: digest scheduler --once
    """
    if ctx.invoked_subcommand:
        return
    from digest import scheduler

    _, runtime = _scheduler_runtime()
    sched = scheduler.make_scheduler(runtime)
    try:
        if once:
            sched.run_pending()
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: runtime.stop.set())
        scheduler.run_forever(sched, runtime.stop)
    finally:
        sched.shutdown()


@sched_app.command("jobs")
def scheduler_jobs() -> None:
    """List the jobs and their next fire times.

    Example: digest scheduler jobs
    """
    from digest import scheduler

    settings, runtime = _scheduler_runtime()
    sched = scheduler.make_scheduler(runtime)
    try:
        for line in scheduler.describe(scheduler.jobs(sched), settings.tz):
            out.print(line, highlight=False, markup=False)
        out.print(f"policy: {settings.policy}; editors: "
                  f"{', '.join(settings.editor_addresses) or 'none configured'}",
                  highlight=False)
    finally:
        sched.shutdown()


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
) -> None:
    """Serve the editors' preview and the subscribers' pages.

    Example: digest serve --port 8000
    """
    import uvicorn

    from digest.web.app import create_app

    uvicorn.run(create_app(_settings()), host=host, port=port, log_level="info")


@app.command("editor-password")
def editor_password(
    name: Annotated[str, typer.Argument(help="The editor's login name")],
) -> None:
    """Print an entry for DIGEST_EDITOR_ACCOUNTS (asks for the password, stores only a hash).

    Example: digest editor-password sian
    """
    from digest.web.auth import hash_password

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    out.print(f"{name}:{hash_password(password)}", highlight=False, markup=False)


@app.command("demo")
def demo(
    as_of: Annotated[str, typer.Option(help="Plan as of this local time")] = DEMO_AS_OF,
) -> None:
    """Run the whole path on SQLite into ./var.

    Example: digest demo
    """
    settings = _settings()
    try:
        summary = run_demo(settings, _parse_as_of(as_of, settings))
    except content.ContentInvalid as exc:
        for e in exc.errors:
            err.print(str(e), highlight=False, markup=False)
        raise _fail("content is invalid; nothing was applied") from None
    out.print(summary.plan_message, highlight=False)
    table = Table(title=f"digest demo: issue {summary.issue or '-'}", show_header=True)
    table.add_column("what")
    table.add_column("count / size", justify="right")
    for kind, n in sorted(summary.items.items()):
        table.add_row(f"content items: {kind}", str(n))
    for lang, size in summary.variants.items():
        table.add_row(f"variant {lang}: HTML size", f"{size / 1000:.1f} KB")
    for lang, n in summary.messages.items():
        table.add_row(f"messages sent: {lang}", str(n))
    out.print(table)
    out.print(f"database:  {summary.database}", highlight=False)
    out.print(f"outbox:    {summary.outbox.resolve()}  (one .eml per subscriber)",
              highlight=False)
    for p in summary.previews:
        out.print(f"preview:   {p.resolve()}", highlight=False)


if __name__ == "__main__":
    app()
