"""What the `digest` commands share: the consoles, settings, the store, errors."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from digest.cli.env_file import env_file_variables
from digest.dates import local_time_problem, year_problem
from digest.settings import ENV_FILE, Settings, secret_key_problem, unknown_variables
from digest.store.db import engine_from, upgrade
from digest.store.models import now_utc
from digest.text import UNSAFE
from digest.text import recorded as recorded_text

if TYPE_CHECKING:  # the services are imported by the functions that call them
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from digest.store.models import Issue



class _Console(Console):
    """rich's console, except that a reader going away (`| head -1`, a `tee` that died) makes
    it quiet instead of exiting 1 on the spot: the command, a send included, carries on to its
    own end and exit code, and a send is not cut short by its progress lines."""

    def on_broken_pipe(self) -> None:
        """Write nothing more, here or at exit (its stream now points at /dev/null)."""
        self.quiet = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.file.fileno())  # rich's own dup2s stdout's, even for stderr
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # a stream without a descriptor
            pass


out = _Console(soft_wrap=True)
err = _Console(stderr=True, soft_wrap=True)
# The settings the command loaded, if any: an error line names their database (errors.py).
loaded: list[Settings] = []
warned: set[str] = set()  # the unknown DIGEST_* variables this command has warned of
debugging: list[bool] = []  # set by --debug: show tracebacks, not one line


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


def tolerant_streams() -> None:
    """Make stdout and stderr write what their encoding lacks as escapes (`Si\\xe2n`) instead
    of raising: a terminal in ASCII or Latin-1 (which has no ŵ or ŷ) gets every line whole."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def write_data(chunks: Iterable[str]) -> None:
    """Write CSV or JSON to stdout as UTF-8 whatever the locale's encoding, as a file gets
    it: escaping a character there would change the data, not just show it differently."""
    sys.stdout.flush()  # what was printed before stays before
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a stream with no bytes below it (some test harnesses)
        sys.stdout.writelines(chunks)
        return
    for chunk in chunks:
        binary.write(chunk.encode("utf-8", "surrogateescape"))
    binary.flush()


def load_settings() -> Settings:
    """The settings, from the environment and .env; a `DIGEST_*` variable in either that
    names no setting (a typo, whose setting keeps its default) is a warning, once per command."""
    in_file = env_file_variables()
    settings = Settings()
    for name in unknown_variables({**in_file, **os.environ}):
        if name not in warned:
            warned.add(name)
            where = f" in {ENV_FILE}" if name in in_file and name not in os.environ else ""
            warn(f"warning: {name}{where} is not a setting (a typo?); it is ignored")
    loaded[:] = [settings]
    return settings


def require_secret_key(settings: Settings) -> None:
    """Exit with one line unless DIGEST_SECRET_KEY is set, not a demo value, and strong."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    if (problem := secret_key_problem(key)) is not None:
        raise fail(problem, 78)  # EX_CONFIG, as for every setting that cannot be used


_WHOLE = re.compile(r"[+-]?[0-9]+")


def bounded(low: int, high: int) -> Callable[[str | int], int]:
    """A Typer `parser` for a whole number in low..high; out of range is a usage error naming
    the value (Typer's own `min`/`max` message does not), before the command runs."""

    def parse(value: str | int) -> int:
        text = str(value).strip()
        shown = printable(text if len(text) <= 40 else text[:37] + "...")
        if not _WHOLE.fullmatch(text):
            raise typer.BadParameter(f"{shown!r} is not a whole number")
        try:
            number = int(text)
        except ValueError:  # more digits than Python converts: out of any range
            number = high + 1
        if not low <= number <= high:
            raise typer.BadParameter(f"{shown} is not in the range {low} to {high}")
        return number

    return parse


def recorded(limit: int) -> Callable[[str], str]:
    """A Typer `parser` for a name or reason kept in a history: one line of 1..limit
    characters, none of them hidden or controlling (see digest.text), spaces trimmed."""

    def parse(value: str) -> str:
        try:
            return recorded_text(value, limit)
        except ValueError as exc:
            shown = value.strip()[:40]
            raise typer.BadParameter(f"'{printable(shown)}' {exc}" if shown else str(exc)
                                     ) from None

    return parse


def int_option(low: int, high: int, *param_decls: str, **kwargs: Any) -> Any:
    """A `typer.Option` for a whole number in low..high (the range shows in --help)."""
    return typer.Option(*param_decls, parser=bounded(low, high), min=low, max=high, **kwargs)


def int_argument(low: int, high: int, **kwargs: Any) -> Any:
    """A `typer.Argument` for a whole number in low..high (the range shows in --help)."""
    return typer.Argument(parser=bounded(low, high), min=low, max=high, **kwargs)


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
    if (problem := year_problem(moment)) is not None:  # before any step leaves the calendar
        raise typer.BadParameter(f"{value!r}: {problem}", param_hint="--as-of")
    if (problem := local_time_problem(moment, settings.tz)) is not None:
        raise typer.BadParameter(problem, param_hint="--as-of")
    return files.to_utc(moment, settings.tz)


def store(settings: Settings | None = None, *, create: bool = False,
          ) -> tuple[Settings, Engine]:
    """Settings (`settings`, or loaded), and an engine on a database migrated to the latest
    schema: every command that opens the database goes through here. The database must be
    there (a mistyped path is refused, not created) unless `create` (`digest db upgrade`)."""
    settings = settings or load_settings()
    engine = engine_from(settings, create=create)
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

