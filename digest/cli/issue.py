"""`digest issue …`: plan, list, show, approve, cancel, replan, preview (send and status
are in `digest.cli.send`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digest.cli.common import (
    fail,
    find_issue,
    load_settings,
    out,
    parse_as_of,
    recorded,
    say,
    store,
    warn,
)
from digest.cli.send import issue_send, issue_status
from digest.store.db import session_scope
from digest.store.models import Language
from digest.store.models.columns import ACTOR_LENGTH
from digest.text import MAX_REASON

issue_app = typer.Typer(help="Monthly issues: plan, preview, send.\n\nExample: digest issue list",
                        no_args_is_help=True)


@issue_app.command("plan")
def issue_plan(
    as_of: Annotated[str | None, typer.Option(
        help="Plan as of this local date/time (Europe/London), e.g. 2026-09-07T09:00")] = None,
) -> None:
    """Plan and render the issue for the month of --as-of.

    Example: digest issue plan --as-of 2026-09-07
    """
    from digest.issue import service

    settings = load_settings()
    moment = parse_as_of(as_of, settings)
    _, engine = store(settings)
    with session_scope(engine) as session:
        outcome = service.plan(session, settings, moment)
    say(outcome.message)


@issue_app.command("list")
def issue_list() -> None:
    """All issues with state, period, items and send progress.

    Example: digest issue list
    """
    from rich.table import Table

    from digest.issue import service

    _, engine = store()
    table = Table(title="issues")
    for name in ("id", "period", "state", "items", "sent", "open", "send after"):
        table.add_column(name)
    with session_scope(engine) as session:
        for row in service.list_issues(session):
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
    from digest.issue import service

    settings, engine = store()
    with session_scope(engine) as session:
        summary = service.describe(session, settings, find_issue(session, issue))
    say(f"issue {summary.period} (#{summary.id}): {summary.state.value}; items published after "
        f"{summary.since_at:%Y-%m-%d %H:%M} UTC up to {summary.cutoff_at:%Y-%m-%d %H:%M} UTC")
    for v in summary.variants:
        say(f"  {v.language.value:>4}: {v.subject} — {v.preheader}  ({v.html_bytes:,} bytes HTML)")
    for item in summary.items:
        say(f"  {item.kind.value} {item.slug}: {item.cy} / {item.en}")  # Welsh first, as everywhere
    problems = summary.problems
    say("translation check: " + ("passes" if not problems else f"{len(problems)} problem(s)"))
    for p in problems:
        say(f"  {p}")
    for e in summary.history:
        say(f"  {e.at:%Y-%m-%d %H:%M} {e.actor}: {e.action}"
            + (f" - {e.detail}" if e.detail else ""))


@issue_app.command("approve")
def issue_approve(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    force: Annotated[bool, typer.Option(
        "--force", help="Approve although the translation check fails (needs --reason)")]
    = False,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the history",
                                               parser=recorded(MAX_REASON))] = None,
    actor: Annotated[str, typer.Option("--as", help="Who approves",
                                       parser=recorded(ACTOR_LENGTH))] = "cli",
) -> None:
    """Approve a draft for sending; refused while Welsh or English text is missing.

    Example: digest issue approve 2026-09 --as "Siân (editor)"
    """
    from digest.issue import lifecycle, service

    if force and not reason:
        raise fail("--force needs --reason")
    _, engine = store()
    try:
        with session_scope(engine, write=True) as session:
            row = service.get_issue(session, issue)
            forced = lifecycle.approve(session, row, actor,
                                       force_reason=reason if force else None)
    except lifecycle.TranslationCheckFailed as exc:
        for p in exc.problems:
            warn(p)
        raise fail("translation check failed; fix the content and replan, or approve with "
                    "--force --reason \"...\"") from None
    except (service.IssueNotFound, lifecycle.TransitionError) as exc:
        raise fail(str(exc)) from None
    say(f"issue {row.period} approved by {actor}"
        + (f" despite {len(forced)} translation problem(s)" if forced else ""))


@issue_app.command("cancel")
def issue_cancel(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    reason: Annotated[str, typer.Option(help="Why; recorded in the history",
                                        parser=recorded(MAX_REASON))],
    actor: Annotated[str, typer.Option("--as", help="Who cancels",
                                       parser=recorded(ACTOR_LENGTH))] = "cli",
) -> None:
    """Cancel a draft or approved issue.

    Example: digest issue cancel 2026-09 --reason "merged into October"
    """
    from digest.issue import lifecycle, service

    _, engine = store()
    try:
        with session_scope(engine, write=True) as session:
            row = service.get_issue(session, issue)
            lifecycle.cancel(session, row, actor, reason)
    except (service.IssueNotFound, lifecycle.TransitionError) as exc:
        raise fail(str(exc)) from None
    say(f"issue {row.period} cancelled")


@issue_app.command("reopen")
def issue_reopen(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    reason: Annotated[str, typer.Option(help="Why; recorded in the history",
                                        parser=recorded(MAX_REASON))],
    actor: Annotated[str, typer.Option("--as", help="Who reopens",
                                       parser=recorded(ACTOR_LENGTH))] = "cli",
) -> None:
    """Take an approved issue back to draft, to replan and approve it again.

    Example: digest issue reopen 2026-09 --reason "review alpha was retracted"
    """
    from digest.issue import lifecycle, service

    _, engine = store()
    try:
        with session_scope(engine, write=True) as session:
            row = service.get_issue(session, issue)
            lifecycle.reopen(session, row, actor, reason)
    except (service.IssueNotFound, lifecycle.TransitionError) as exc:
        raise fail(str(exc)) from None
    say(f"issue {row.period} is a draft again; replan it and approve it to send it")


@issue_app.command("replan")
def issue_replan(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    as_of: Annotated[str | None, typer.Option(help="Re-select as of this local time")] = None,
    actor: Annotated[str, typer.Option("--as", help="Who replans",
                                       parser=recorded(ACTOR_LENGTH))] = "cli",
) -> None:
    """Re-select a draft's items and re-render it (only while draft).

    Example: digest issue replan 2026-09 --as-of 2026-09-08T09:00
    """
    from digest.issue import lifecycle, service

    settings = load_settings()
    moment = parse_as_of(as_of, settings)  # a bad --as-of changes nothing, not even the schema
    _, engine = store(settings)
    try:
        with session_scope(engine, write=True) as session:
            row = service.get_issue(session, issue)
            result = service.replan(session, settings, row, moment, actor)
    except (service.IssueNotFound, lifecycle.TransitionError, ValueError) as exc:
        raise fail(str(exc)) from None
    say(f"replanned issue {row.period}: {len(result.reviews)} review(s), "
        f"{len(result.seminars)} seminar(s), {len(result.news)} news item(s)")


@issue_app.command("preview")
def issue_preview(
    issue: Annotated[str, typer.Argument(help="Issue id or period, e.g. 2026-09")],
    lang: Annotated[Language, typer.Option("--lang", help="cy, en or both")] = Language.BOTH,
    out_dir: Annotated[Path | None, typer.Option(help="Folder (default: var/preview)")] = None,
) -> None:
    """Write a variant's HTML and text to files.

    Example: digest issue preview 2026-09 --lang cy
    """
    from digest.issue import service

    settings, engine = store()
    try:
        with session_scope(engine) as session:
            paths = service.write_preview(session, service.get_issue(session, issue), lang,
                                         out_dir or settings.preview_dir)
    except service.IssueNotFound as exc:
        raise fail(str(exc)) from None
    for p in paths:
        say(f"wrote {p.resolve()}")


# Defined in digest.cli.send, registered here so that the group lists them after preview.
issue_app.command("send")(issue_send)
issue_app.command("status")(issue_status)
