"""The `digest` command: a thin layer over the services (one service call per command)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from digest import content, deliver, issues, subscribers
from digest.db import current_revision, engine_from, session_scope, upgrade
from digest.demo import DEMO_AS_OF, run_demo
from digest.models import Language, now_utc
from digest.settings import Settings
from digest.transport import FileTransport

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

out = Console()
err = Console(stderr=True)


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


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations.

    Example: digest db upgrade
    """
    settings = _settings()
    engine = engine_from(settings)
    upgrade(engine)
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
    settings = _settings()
    engine = engine_from(settings)
    upgrade(engine)
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
) -> None:
    """Send an issue to every active subscriber.

    Example: digest issue send 2026-09
    """
    settings = _settings()
    engine = engine_from(settings)
    try:
        report = deliver.send_issue(engine, settings, issue, FileTransport(settings.outbox_dir))
    except (issues.IssueNotFound, ValueError) as exc:
        raise _fail(str(exc)) from None
    sent = ", ".join(f"{n} {lang}" for lang, n in sorted(report.sent.items())) or "none"
    out.print(f"issue {report.issue_period}: {report.created} new outbox row(s); sent {sent}; "
              f"{report.retry} to retry, {report.failed} failed, {report.skipped} skipped; "
              f"files in {settings.outbox_dir.resolve()}", highlight=False)


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
