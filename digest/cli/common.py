"""What the `digest` commands share: the consoles, settings, the store, errors."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from digest.settings import Settings, secret_key_problem
from digest.store.db import engine_from, upgrade
from digest.store.models import now_utc
from digest.text import UNSAFE

if TYPE_CHECKING:  # the services are imported by the functions that call them
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from digest.store.models import Issue

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
# The settings the command loaded, if any: an error line names their database (errors.py).
loaded: list[Settings] = []


def printable(text: str) -> str:
    """`text` with control and bidi characters written as escapes (`\\x1b`, `\\u202e`)."""
    # Text from content, files or a relay must not break or reorder a terminal line.
    return UNSAFE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100
                       else f"\\u{ord(m[0]):04x}", text)


def say(text: str) -> None:
    """Print a line that carries data (titles, addresses, replies): escaped, no markup."""
    out.print(printable(text), markup=False, highlight=False)


def warn(text: str) -> None:
    """Print a data-carrying line to stderr: escaped, no markup."""
    err.print(printable(text), markup=False, highlight=False)


def load_settings() -> Settings:
    """The settings, from the environment and .env."""
    settings = Settings()
    loaded[:] = [settings]
    return settings


def require_secret_key(settings: Settings) -> None:
    """Exit with one line unless DIGEST_SECRET_KEY is set, not a demo value, and strong."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    if (problem := secret_key_problem(key)) is not None:
        raise fail(problem, 78)  # EX_CONFIG, as for every setting that cannot be used


def parse_as_of(value: str | None, settings: Settings) -> datetime:
    """ISO date or datetime in the editorial time zone (default: now)."""
    from digest.content import files

    if value is None:
        return now_utc()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-09-07 or "
                                 "2026-09-07T09:00", param_hint="--as-of") from None
    return files.to_utc(moment, settings.tz)


def store() -> tuple[Settings, Engine]:
    """Settings, and an engine on a database migrated to the latest schema."""
    settings = load_settings()
    engine = engine_from(settings)
    upgrade(engine)
    return settings, engine


def find_issue(session: Session, ref: str) -> Issue:
    """The issue `ref` names, or exit with a clear error."""
    from digest.issue import service

    try:
        return service.get_issue(session, ref)
    except service.IssueNotFound as exc:
        raise fail(str(exc)) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as an error; the caller raises the returned Exit."""
    err.print("[red]error:[/red] ", end="", highlight=False)
    err.print(printable(message), markup=False, highlight=False)
    return typer.Exit(code)

