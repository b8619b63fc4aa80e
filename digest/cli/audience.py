"""`digest subscribers export|export-person|erase|show` (added to the `subscribers` group)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from digest.cli.common import fail, out, printable, recorded, say, store, write_data
from digest.settings import Settings
from digest.store.db import session_scope
from digest.store.models import Language, Subscriber, SubscriberState
from digest.store.models.columns import ACTOR_LENGTH
from digest.text import unsafe_character


def typed_address(value: str) -> str:
    """A Typer `parser` for an address typed to find someone: one with a control or bidi
    character, or a byte that is not UTF-8 (a lone surrogate), names nobody and cannot be
    looked up (a database refuses it): a usage error saying which, before the database."""
    if problem := unsafe_character(value.strip(), where=True):
        shown = value.strip()[:60]
        raise typer.BadParameter(f"'{printable(shown)}' {problem}")
    return value


def subscribers_export(
    file: Annotated[Path | None, typer.Argument(help="Write here (default: standard output)")]
    = None,
    state: Annotated[SubscriberState | None, typer.Option(help="Only this state")] = None,
    language: Annotated[Language | None, typer.Option(help="Only this language")] = None,
) -> None:
    """Export the list as CSV (import's columns, then state and dates), streamed.

    Example: digest subscribers export subs.csv
    """
    from digest import paths
    from digest.audience import export
    from digest.audience.directory import Filter

    _, engine = store()
    lines = export.stream_csv(engine, Filter(state=state, language=language))
    if file is None:
        write_data(lines)
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    never = [Path(f"{database}{end}") for end in ("", "-wal", "-shm", "-journal")
             if database and database != ":memory:"]
    try:  # whole or not at all: a failure part way leaves the file as it was
        count = paths.write_whole(
            file, lines, never=never,
            never_what="the database (DIGEST_DATABASE_URL) or its journal") - 1
    except paths.UnusableFile as exc:
        raise fail(f"{exc}; nothing was written") from None
    except OSError as exc:
        raise fail(f"{file}: {exc.strerror or exc}; nothing was written") from None
    say(f"{count} subscriber(s) written to {file}")  # a file name is data: escaped, no markup


def subscribers_export_person(
    email: Annotated[str, typer.Argument(help="The person's address", parser=typed_address)],
) -> None:
    """Print everything held about one person as JSON (a GDPR access request).

    Example: digest subscribers export-person gwyn@example.org > gwyn.json
    """
    from digest.audience import gdpr

    settings, engine = store()
    with session_scope(engine) as session:
        data = gdpr.export_person(session, _find(session, settings, email).id or 0)
    write_data([json.dumps(data, ensure_ascii=False, indent=2), "\n"])


def subscribers_erase(
    email: Annotated[str, typer.Argument(help="The person's address", parser=typed_address)],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm")] = False,
    actor: Annotated[str, typer.Option("--as", help="Who erases; recorded",
                                       parser=recorded(ACTOR_LENGTH))] = "cli",
) -> None:
    """Erase a person's data; keep anonymous counts and a keyed hash that refuses re-imports.

    Example: digest subscribers erase gwyn@example.org --yes
    """
    from digest.audience import gdpr

    settings, engine = store()
    with session_scope(engine, write=True) as session:
        found = _find(session, settings, email)
        if found.state is SubscriberState.ERASED:  # named by its placeholder address
            raise fail(f"subscriber #{found.id} was already erased on "
                       f"{found.updated_at:%Y-%m-%d}; nothing personal is held about it")
        sid = found.id or 0
        if not yes and not typer.confirm(
                f"Erase {email.strip()} for good (address, name, history details)?"):
            raise fail("nothing erased")
        try:
            done = gdpr.erase(session, settings, sid, actor)
        except gdpr.NotFound as exc:  # erased meanwhile, by another command or page
            raise fail(str(exc)) from None
    out.print(f"erased subscriber #{done.subscriber_id}: address and name removed; "
              f"{done.deliveries_kept} delivery outcome(s) and {done.events_kept} history "
              "event(s) kept without personal data; the address is on the suppression list",
              highlight=False)


def subscribers_show(
    email: Annotated[str, typer.Argument(help="The person's address", parser=typed_address)],
) -> None:
    """A subscriber's state and why, consent, language and event history, deliveries.

    Example: digest subscribers show gwyn@example.org
    """
    from digest.audience import history
    from digest.bounces import service as bounce_service

    settings, engine = store()
    with session_scope(engine) as session:
        sub = _find(session, settings, email)  # an erased one too, by its placeholder address
        sid = sub.id or 0
        consent = history.consent_of(session, sid)
        events = history.events_of(session, sid)
        deliveries = history.deliveries_of(session, sid)
        reports = bounce_service.history_for(session, sid)
        left = bounce_service.left_because(session, sub)
    say(f"{sub.email} (#{sub.id}) {sub.name}: {sub.state.value}, {sub.language.value}")
    say(f"why: {history.why(events)}")
    if left is not None:
        say(f"  reported: {left.detail} ({left.source.value}"
            + (f", issue {left.issue}" if left.issue else "")
            + f", {left.received_at:%Y-%m-%d %H:%M} UTC)"
            + (f": {left.status or ''} {left.diagnostic or ''}".rstrip()
               if left.status or left.diagnostic else ""))
    if consent is not None:
        where = (f" from {consent.import_file}:{consent.import_line}"
                 if consent.import_file else "")
        asked = (f"; asked {consent.requested_at:%Y-%m-%d %H:%M}, confirmed "
                 f"{consent.confirmed_at:%Y-%m-%d %H:%M} UTC"
                 if consent.requested_at and consent.confirmed_at else "")
        say(f"consent: {consent.source.value}{where} at {consent.at:%Y-%m-%d %H:%M} UTC{asked}"
            + ("; client IP kept as a keyed hash" if consent.ip_hash else ""))
    say("languages: " + ", ".join(f"{lang.value} from {at:%Y-%m-%d}"
                                  for at, lang in history.language_history(events)))
    say("history:")
    for e in events:
        say(f"  {e.at:%Y-%m-%d %H:%M} {e.action.value}"
            + (f" ({e.reason.value})" if e.reason else "") + f" by {e.actor}"
            + (f": {e.detail}" if e.detail else ""))
    say(f"bounces and complaints: {len(reports) or 'none'}")
    for r in reports:
        say(f"  {r.received_at:%Y-%m-%d %H:%M} {r.kind.value} {r.outcome.value} "
            f"{r.source.value} {r.issue or '-'} {r.status or '-'}: {r.detail}")
    say("deliveries:" + ("" if deliveries else " none"))
    for d in deliveries:
        say(f"  {d.period} {d.state.value}" + (f" {d.language.value}" if d.language else "")
            + (f" at {d.sent_at:%Y-%m-%d %H:%M}" if d.sent_at else "")
            + (f": {d.reply}" if d.reply else ""))


def _find(session: Session, settings: Settings, email: str) -> Subscriber:
    """The subscriber with `email`, or exit with one clear line."""
    from digest.audience import gdpr

    try:
        sub = gdpr.find(session, email)
    except gdpr.NotFound as exc:
        erased = gdpr.suppressed_at(session, settings, email)
        if erased is not None:
            raise fail(f"{email.strip()} was erased on {erased:%Y-%m-%d} (it is on the "
                       "suppression list); nothing is held about it") from None
        raise fail(str(exc)) from None
    return sub


def add_commands(group: typer.Typer) -> None:
    """Register these commands on the `subscribers` group."""
    group.command("export")(subscribers_export)
    group.command("export-person")(subscribers_export_person)
    group.command("erase")(subscribers_erase)
    group.command("show")(subscribers_show)
