"""The `digest` command: a thin layer over the services (one service call per command).

The `issue` group lives in `digest.cli.issue` (and its send and status in `digest.cli.send`);
what the commands share in `digest.cli.common`; what an error escaping a command becomes in
`digest.cli.errors`. The console script is `main`.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from digest.cli import audience as audience_cli
from digest.cli import errors
from digest.cli.bounces import bounces_app
from digest.cli.common import (
    debugging,
    fail,
    int_option,
    load_settings,
    loaded,
    out,
    parse_as_of,
    printable,
    require_secret_key,
    say,
    store,
    tolerant_streams,
    warn,
    warned,
)
from digest.cli.issue import issue_app
from digest.cli.report import report_app
from digest.settings import Settings, generate_secret_key
from digest.store.db import current_revision, engine_from, session_scope, upgrade

if TYPE_CHECKING:  # imported by the commands that use them: a send need not load them
    from digest import scheduler

# digest.demo.DEMO_AS_OF, the demo's default --as-of, written here so that building the
# commands does not import the demo (tests/cli/test_imports.py checks the two agree).
DEMO_AS_OF = "2026-09-07T09:00"
MAX_PORT = 65535
MAX_WORKERS = 64  # uvicorn processes, each with its own DIGEST_DATABASE_POOL_SIZE connections
STARTUP_FAILURE = 3  # uvicorn's exit code when it cannot start (uvicorn.config.STARTUP_FAILURE)

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.\n\nExample: digest db upgrade", no_args_is_help=True)
content_app = typer.Typer(help="Editorial content.\n\nExample: digest content sync content/",
                          no_args_is_help=True)
subs_app = typer.Typer(help="Subscribers.\n\nExample: digest subscribers import new.csv",
                       no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(content_app, name="content")
app.add_typer(subs_app, name="subscribers")
audience_cli.add_commands(subs_app)
app.add_typer(issue_app, name="issue")
app.add_typer(report_app, name="report")
sched_app = typer.Typer(help="The monthly schedule (APScheduler).\n\n"
                        "Example: digest scheduler --once")
app.add_typer(sched_app, name="scheduler")


@app.callback()
def root(
    debug: Annotated[bool, typer.Option(
        "--debug", envvar="DIGEST_DEBUG",
        help="Show the traceback of an error instead of one line")] = False,
) -> None:
    """Bilingual (Welsh/English) research digest.

    Example: digest issue plan --as-of 2026-09-07
    """
    debugging[:] = [debug]


def main(argv: list[str] | None = None) -> None:
    """The `digest` console script: the app, with errors as one line and an exit code.

    Example: digest --debug issue send 2026-09
    """
    debug = os.environ.get("DIGEST_DEBUG", "").lower() in {"1", "true", "yes"} or \
        "--debug" in (sys.argv[1:] if argv is None else argv)
    if not debug:
        # A lost database connection makes the pool and the driver log tracebacks while they
        # clean up; the one line below says what happened.
        for name in ("sqlalchemy.pool", "psycopg"):
            logging.getLogger(name).addHandler(logging.NullHandler())
            logging.getLogger(name).propagate = False
    loaded.clear()
    warned.clear()
    tolerant_streams()
    try:
        app(args=argv, prog_name="digest")
    except Exception as exc:
        if debug or any(debugging):
            raise
        line, code = errors.describe(exc, loaded[0] if loaded else None)
        fail(line)
        sys.exit(code)
app.add_typer(bounces_app, name="bounces")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database if it is not there (a SQLite file), and apply its migrations.

    Example: digest db upgrade
    """
    settings, engine = store(create=True)
    say(f"{errors.database_name(settings)} at revision {current_revision(engine)}")


@content_app.command("sync")
def content_sync(
    directory: Annotated[Path | None, typer.Argument(  # readable=False: digest.paths judges
        help="Content folder (default: ./content)", readable=False)] = None,
) -> None:
    """Validate content files and upsert them, all or nothing.

    Example: digest content sync content/
    """
    from digest.content import files, sync

    settings = load_settings()
    try:
        items = files.load_dir(directory or settings.content_dir, settings.tz)
        engine = engine_from(settings)
        upgrade(engine)
        with session_scope(engine, write=True) as session:
            report = sync.upsert(session, items, settings.tz)
    except files.ContentInvalid as exc:
        for e in exc.errors:
            warn(str(e))
        raise fail(f"{len(exc.errors)} problem(s); nothing was applied") from None
    for change in report.retyped:
        say(f"retyped {change}")
    say(f"{len(items)} item(s): {report.total(report.created)} created, "
        f"{report.total(report.updated)} updated, {report.total(report.unchanged)} unchanged")
    for line in ([f"withdrawn {slug}: no longer chosen for an issue, listed or shown"
                  for slug in report.withdrawn]
                 + [f"restored {slug}: no longer withdrawn" for slug in report.restored]):
        say(line)
    if report.absent:
        shown = ", ".join(report.absent[:10]) + (", ..." if len(report.absent) > 10 else "")
        warn(f"warning: {len(report.absent)} item(s) in the store have no file here: {shown}; "
             "they stay in the store and can still go in an issue; to withdraw one, keep its "
             "file with `withdrawn: true` (docs/content.md)")


@subs_app.command("import")
def subscribers_import(
    file: Annotated[Path, typer.Argument(help="CSV with columns email,name,language",
                                         readable=False)],  # digest.paths judges it
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Import the good lines even if some lines are bad")] = False,
) -> None:
    """Import subscribers from CSV, all or nothing.

    Example: digest subscribers import subscribers/example.csv
    """
    from digest import paths
    from digest.audience import csv_import
    from digest.audience.keyed import Keyed

    paths.check_file(file)  # a FIFO, a device or a folder: one line, before the database
    settings, engine = store()
    try:
        with session_scope(engine) as session:
            report = csv_import.import_file(session, file, skip_invalid=skip_invalid,
                                            keyed=Keyed(settings))
    except csv_import.ImportInvalid as exc:
        for e in exc.errors:
            warn(str(e))
        raise fail(f"{len(exc.errors)} bad line(s); nothing was imported "
                    "(use --skip-invalid to import the good lines)") from None
    for note in report.duplicates:
        say(note)
    for e in report.errors:
        warn(f"skipped {e}")
    say(report.summary())



def _scheduler_runtime() -> tuple[Settings, scheduler.Runtime]:
    from digest import scheduler
    from digest.delivery.transports import factory

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings, engine = store()
    return settings, scheduler.Runtime(settings, engine, factory.transport_factory(settings))


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

    require_secret_key(load_settings())
    settings, runtime = _scheduler_runtime()
    sched = scheduler.make_scheduler(runtime)
    try:
        if once:
            idle = scheduler.run_once(sched, runtime.clock(), settings.tz)
            if idle:
                say(idle)
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
            say(line)
        say(f"policy: {settings.policy}; editors: "
            f"{', '.join(settings.editor_addresses) or 'none configured'}")
    finally:
        sched.shutdown()


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, int_option(1, MAX_PORT, help="Port")] = 8000,
    workers: Annotated[int, int_option(
        1, MAX_WORKERS,
        help="Server processes (uvicorn workers); they share state via the database")] = 1,
) -> None:
    """Serve the editors' preview and the subscribers' pages (see docs/security.md).

    Example: digest serve --port 8000 --workers 2
    """
    import uvicorn

    from digest.web import logs
    from digest.web.app import create_app

    _check_listen(host, port)  # a bad --host is one line, before the database is touched
    settings = load_settings()
    require_secret_key(settings)
    logs.install()
    proxies = settings.forwarded_allow_ips.strip()
    try:
        # Forwarded headers are believed only from the configured proxies (none by default).
        if workers > 1:  # migrate once here, not in N workers at the same moment
            upgrade(engine_from(settings))
            uvicorn.run("digest.web.factory:app", factory=True, workers=workers, host=host,
                        port=port, log_level="info", server_header=False,
                        proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)
            return
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                    server_header=False, proxy_headers=bool(proxies),
                    forwarded_allow_ips=proxies or None)
    except SystemExit as exc:  # uvicorn logged why; say what failed, as every command does
        if exc.code != STARTUP_FAILURE:
            raise
        raise fail(f"could not serve on {_address(host, port)} (uvicorn's log above says "
                   "why)") from None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_listen(host: str, port: int) -> None:
    """Exit with one line unless `host` resolves to an address of this machine that `port`
    can be bound on, as uvicorn (asyncio) will bind it: each address the name resolves to,
    SO_REUSEADDR, skipping a family that is not enabled. The sockets are closed at once."""
    hint = f"{printable(host)!r}"
    if not host.strip():  # uvicorn would take it for every interface: say so instead
        raise typer.BadParameter("empty (for every interface, say 0.0.0.0 or ::)",
                                 param_hint="--host")
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise typer.BadParameter(f"{hint}: {exc.strerror}", param_hint="--host") from None
    except ValueError:  # a label too long for IDNA, a NUL character
        raise typer.BadParameter(f"{hint} is not a host name or an IP address",
                                 param_hint="--host") from None
    bound = 0
    for family, kind, proto, _, address in found:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
                bound += 1
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:  # in use, or a privileged port
                raise fail(f"cannot listen on {_address(host, port)}: "
                           f"{exc.strerror or exc}") from None
    if not bound:
        raise typer.BadParameter(f"{hint} is not an address of this machine",
                                 param_hint="--host")


@app.command("secret-key")
def secret_key() -> None:
    """Print a new random DIGEST_SECRET_KEY (48 random bytes, URL-safe).

    Example: digest secret-key
    """
    out.print(generate_secret_key(), highlight=False, markup=False)


@app.command("editor-password")
def editor_password(
    name: Annotated[str, typer.Argument(help="The editor's login name")],
) -> None:
    """Print an entry for DIGEST_EDITOR_ACCOUNTS (asks for the password, stores only a hash).

    Example: digest editor-password sian
    """
    from digest.web.auth import hash_password, name_problem, password_problem

    if problem := name_problem(name):
        raise fail(f"the name {problem}")
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if problem := password_problem(password):
        raise fail(f"the password {problem}; nothing was printed")
    say(f"{name}:{hash_password(password)}")


@app.command("demo")
def demo(
    as_of: Annotated[str, typer.Option(help="Plan as of this local time")] = DEMO_AS_OF,
) -> None:
    """Run the whole path on SQLite into ./var.

    Example: digest demo
    """
    from rich.table import Table

    from digest.content import files
    from digest.demo import key_file, run_demo, with_demo_key

    configured = load_settings()
    settings = with_demo_key(configured)  # its own key under var/ unless a good one is set
    try:
        summary = run_demo(settings, parse_as_of(as_of, settings))
    except files.ContentInvalid as exc:
        for e in exc.errors:
            warn(str(e))
        raise fail("content is invalid; nothing was applied") from None
    say(summary.plan_message)
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
    say(f"database:  {summary.database}")
    say(f"outbox:    {summary.outbox.resolve()}  (one .eml per subscriber)")
    for p in summary.previews:
        say(f"preview:   {p.resolve()}")
    if settings.secret_key != configured.secret_key:
        path = key_file(settings)
        say(f"secret key: {path.resolve()}  (the demo's own; to browse the pages: "
            f"DIGEST_SECRET_KEY=$(cat {path}) DIGEST_SITE_URL=http://127.0.0.1:8000 "
            "digest serve)")

