"""What an import reports: its bad lines, its good rows, and what it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from digest.store.models import Language


@dataclass(frozen=True)
class LineError:
    """A rejected line of the import file."""

    path: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class ImportInvalid(Exception):
    """Raised when the file has bad lines and partial import was not asked for."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class Row(NamedTuple):
    """A valid, normalised line."""

    line: int
    email: str
    name: str
    language: Language


class NotActive(NamedTuple):
    """A line whose `state` column (an export's) says the person is not active: not imported,
    so that an unsubscribed, bounced, unconfirmed or erased person is never added as active."""

    line: int
    state: str


Item = Row | LineError | NotActive  # a line's verdict (csv_import.parse)


@dataclass
class ImportReport:
    """What an import did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_inactive: int = 0  # unsubscribed/bounced people are never re-activated by an import
    not_active: int = 0  # lines an export marks as not active (NotActive): not imported
    duplicates: list[str] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    def summary(self) -> str:
        """The one line `digest subscribers import` ends with."""
        return (f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.kept_inactive} left unsubscribed/bounced, {len(self.errors)} skipped"
                + (f", {self.not_active} not active in the file (not imported)"
                   if self.not_active else ""))


def repeated(path: Path, line: int, email: str, first: int, *, same: bool, notes: list[str],
             errors: list[LineError]) -> None:
    """A later line for an address already on line `first`: a note when it repeats that line
    exactly (`same` name and language), else an error."""
    if same:
        notes.append(f"line {line}: {email} repeats line {first}; ignored")
    else:
        errors.append(LineError(path, line, "email", f"{email} is already on line {first} with "
                                "a different name or language"))
