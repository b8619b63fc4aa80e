"""What a failure escaping a command becomes: one line and an exit code (README "Exit codes").

A user's mistake (a bad setting, a missing file, a database that is not there) is a line
naming the setting, file or server; `--debug` or DIGEST_DEBUG=1 shows the traceback instead.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import get_args

import sqlalchemy as sa
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import make_url

from digest.cli.env_file import SettingsFileInvalid
from digest.settings import InsecureSecretKey, SettingInvalid, Settings
from digest.store.db import UnknownRevision


class Exit(enum.IntEnum):
    """The exit codes of `digest` (sysexits.h where one fits)."""

    DONE = 0
    REFUSED = 1  # bad input, or a step that does not apply (nothing was changed)
    USAGE = 2  # an unknown command or option, or a bad option value (Click's own)
    DATABASE = 69  # EX_UNAVAILABLE: the database could not be reached or failed mid-way
    INTERNAL = 70  # EX_SOFTWARE: a bug; run again with --debug for the traceback
    TEMPFAIL = 75  # EX_TEMPFAIL: the relay failed and work is left; run it again later
    CONFIG = 78  # EX_CONFIG: a setting has a value that cannot be used
    STOPPED = 130  # Ctrl-C or SIGTERM: stopped cleanly, resumable


def env_name(field: object) -> str:
    """The environment variable of a settings field."""
    return f"DIGEST_{field}".upper()


def database_name(settings: Settings | None) -> str:
    """The configured database, without its password, for a message."""
    if settings is None:
        return "the database"
    try:
        return "database " + make_url(settings.database_url).render_as_string(
            hide_password=True)
    except sa.exc.ArgumentError:
        return "database " + repr(settings.database_url)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an error (drivers add hints and SQL below it)."""
    origin = getattr(exc, "orig", None) or exc
    for line in str(origin).splitlines():
        if line.strip():
            return line.strip()
    return origin.__class__.__name__


def _sqlite_hint(settings: Settings | None, line: str) -> str:
    """Where SQLite must be able to write, after its words for not being able to."""
    if settings is None or not any(words in line for words in (
            "readonly database", "unable to open database file")):
        return ""
    try:
        url = make_url(settings.database_url)
    except sa.exc.ArgumentError:
        return ""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return ""
    path = Path(url.database)
    # WAL mode: the -wal and -shm files beside the database are created and written too.
    return (f" (SQLite writes {path.name}, and {path.name}-wal and {path.name}-shm beside it: "
            f"this user needs write access to them and to the folder {path.parent})")


_URL_PASSWORD = re.compile(r"(//[^/?#@:]*:)[^/?#@]*@")


def shown_value(field: str, value: object) -> object:
    """A setting's refused value as an error line may show it: a secret (SecretStr) not at
    all, and the password of a URL (`postgresql://user:pw@host/db`) as `***`."""
    info = Settings.model_fields.get(field)
    if info is not None and SecretStr in (get_args(info.annotation) or (info.annotation,)):
        return "***"
    return _URL_PASSWORD.sub(r"\1***@", value) if isinstance(value, str) else value


def describe(exc: BaseException, settings: Settings | None) -> tuple[str, Exit]:
    """One line saying what went wrong and what to look at, and the exit code."""
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        lines = []
        for e in exc.errors():
            name = env_name(e["loc"][0]) if e["loc"] else "settings"
            field = str(e["loc"][0]) if e["loc"] else ""
            got = (f" (got {shown_value(field, e['input'])!r})"
                   if isinstance(e.get("input"), str | int) else "")
            msg = e["msg"].removeprefix("Value error, ")  # our own ValueError, as raised
            lines.append(f"setting {name}: {msg}{got}")
        return "; ".join(lines), Exit.CONFIG
    if isinstance(exc, InsecureSecretKey | SettingInvalid | SettingsFileInvalid):  # unusable
        return str(exc), Exit.CONFIG
    if isinstance(exc, sa.exc.ArgumentError | sa.exc.NoSuchModuleError):
        return f"setting DIGEST_DATABASE_URL: {first_line(exc)}", Exit.CONFIG
    if isinstance(exc, UnknownRevision):  # the database is fine, but not for this version
        return f"{database_name(settings)}: {exc}", Exit.CONFIG
    if isinstance(exc, sa.exc.DBAPIError):
        line = first_line(exc)
        return f"{database_name(settings)}: {line}{_sqlite_hint(settings, line)}", Exit.DATABASE
    if isinstance(exc, OSError):
        what = exc.strerror or first_line(exc)
        if exc.filename is not None:
            return f"{exc.filename}: {what}", Exit.REFUSED
        return what, Exit.REFUSED
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", Exit.STOPPED
    return (f"internal error: {exc.__class__.__name__}: {first_line(exc)} "
            "(run again with --debug for the traceback)", Exit.INTERNAL)
