"""Subscriber import from CSV (`email,name,language`): validate, normalise, all or nothing.

Every bad line is reported as `file:line: field: what`, and a file with any bad line imports
nothing (unless the good lines are asked for). A path that is not a regular file this
process may read (a FIFO, a device, a folder, a dangling link) raises paths.UnusableFile, an
OSError naming it, before anything is read; one that cannot be read raises OSError.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from sqlmodel import Session

from digest.audience.address import normalise_email
from digest.audience.csv_lines import (
    ImportInvalid,
    ImportReport,
    Item,
    LineError,
    NotActive,
    Row,
    repeated,
)
from digest.audience.keyed import Keyed
from digest.audience.spreadsheet import uncell
from digest.paths import open_regular
from digest.store.models import Language, SubscriberState
from digest.text import UNSAFE, unsafe_character

# Re-exported: the web sign-up and `digest issue send --to` normalise; callers catch these.
__all__ = ["ImportInvalid", "ImportReport", "Item", "LineError", "Row", "normalise_email"]

REQUIRED_COLUMNS = ("email", "language")
KNOWN_COLUMNS = ("email", "name", "language")
# What `digest subscribers export` adds after those, so that an export imports as it is:
# an import sets no state or date (it never reactivates anyone), and a line whose state is
# not active is not imported (csv_lines.NotActive).
EXPORT_COLUMNS = ("state", "subscribed_at", "updated_at", "consent_source", "consent_at")
MAX_NAME = 200  # characters: a name is a display name in every To: header
_LANGUAGES = {lang.value: lang for lang in Language}
_STATES = [state.value for state in SubscriberState]


def parse_language(raw: str) -> Language:
    """`cy`, `en` or `both` (any case); raises ValueError otherwise."""
    try:
        return Language(raw.strip().lower())
    except ValueError:
        raise ValueError(f"{raw.strip()!r} is not one of cy, en, both") from None


def _bad_byte(path: Path, exc: UnicodeDecodeError) -> LineError:
    """The first line of `path` that is not UTF-8 (read again only when decoding failed)."""
    with open_regular(path) as handle:
        for number, data in enumerate(handle, 1):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as bad:
                return LineError(path, number, "file", f"not valid UTF-8 ({bad.reason})")
    return LineError(path, 1, "file", f"not valid UTF-8 ({exc.reason})")


def parse(path: Path) -> Iterator[Item]:
    """Each line's verdict in file order: a valid, normalised Row, a LineError (no duplicate
    check), or NotActive for an export's line of someone not active. A bad header or byte
    ends it with that one error, and it alone counts.

    Raises OSError (with the file name) when the file cannot be read.
    """
    try:
        yield from _parse(path)
    except UnicodeDecodeError as exc:
        yield _bad_byte(path, exc)


def _parse(path: Path) -> Iterator[Item]:
    with io.TextIOWrapper(open_regular(path), encoding="utf-8-sig", newline="") as handle:
        yield from _records(path, handle)


def _records(path: Path, handle: TextIO) -> Iterator[Item]:
    reader = csv.reader(handle, strict=True)  # an unclosed quote is an error
    try:
        first = next((r for r in reader if r), [])
    except csv.Error as exc:
        yield LineError(path, 1, "header", str(exc))
        return
    header = [h.strip().lower() for h in first]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in KNOWN_COLUMNS + EXPORT_COLUMNS]
    twice = sorted({c for c in header if header.count(c) > 1})
    if missing or unknown or twice:
        msg = "; ".join(filter(None, [
            f"missing column(s): {', '.join(missing)}" if missing else "",
            f"unknown column(s): {', '.join(printable_list(unknown))}" if unknown else "",
            f"column(s) given twice: {', '.join(twice)}" if twice else "",
        ]))
        yield LineError(path, 1, "header", f"{msg} (expected email,name,language)")
        return
    columns = len(header)
    at_email, at_lang = header.index("email"), header.index("language")
    at_name = header.index("name") if "name" in header else columns
    at_state = header.index("state") if "state" in header else columns
    done = reader.line_num  # the last line of the last record read
    try:
        for record in reader:
            line, done = done + 1, reader.line_num  # a quoted field may hold line breaks
            size = len(record)
            joined = "".join(record)
            if not joined or joined.isspace():
                continue  # blank line
            if size != columns:  # shifted by a comma too many or too few: nothing is trusted
                yield LineError(path, line, "line" if size > columns else header[size],
                                _field_count(size, header))
                continue
            if UNSAFE.search(joined) is not None:  # in any column: the first one names it
                column, problem = next((c, p) for c, v in zip(header, record, strict=True)
                                       if (p := unsafe_character(v, where=True)))
                yield LineError(path, line, column, problem)
                continue
            state = record[at_state].strip().lower() if at_state < size else ""
            if state not in ("", SubscriberState.ACTIVE.value):
                yield (NotActive(line, state) if state in _STATES else LineError(
                    path, line, "state", f"{record[at_state].strip()!r} is not one of "
                    f"{', '.join(_STATES)} (or empty)"))
                continue
            name = uncell(record[at_name]).strip() if at_name < size else ""
            if len(name) > MAX_NAME:
                yield LineError(path, line, "name",
                                f"longer than {MAX_NAME} characters ({len(name):,})")
                continue
            try:
                email = normalise_email(uncell(record[at_email]) if at_email < size else "")
            except ValueError as exc:
                yield LineError(path, line, "email", str(exc))
                continue
            language = _LANGUAGES.get((record[at_lang] if at_lang < size else "").strip().lower())
            if language is None:
                raw = record[at_lang] if at_lang < size else ""
                yield LineError(path, line, "language",
                                f"{raw.strip()!r} is not one of cy, en, both")
                continue
            yield Row(line, email, name, language)
    except csv.Error as exc:  # reading stops here; the file is refused all the same
        yield LineError(path, done + 1, "line", f"{exc} (an unclosed quote?)"
                        if "end of data" in str(exc) else str(exc))


def _field_count(size: int, header: list[str]) -> str:
    """Why a record with `size` fields does not fit the header."""
    fields = f"{size} field{'s' if size != 1 else ''}"
    if size > len(header):
        return (f"more fields than columns ({fields}, the header has {len(header)}: "
                f"{','.join(header)}); a value with a comma in it needs double quotes")
    return (f"missing: fewer fields than columns ({fields}, the header has {len(header)}: "
            f"{','.join(header)})")


def read_csv(path: Path) -> tuple[list[Row], list[str], list[LineError]]:
    """Parse and validate a file held whole (small files): good rows, duplicate notes, and
    every bad line. `import_file` streams instead, checking repeats in the database.

    Raises OSError (with the file name) when the file cannot be read.
    """
    rows: dict[str, Row] = {}
    notes: list[str] = []
    errors: list[LineError] = []
    for item in parse(path):
        if isinstance(item, NotActive):
            continue
        if isinstance(item, LineError):
            if item.field in ("file", "header"):
                return [], [], [item]
            errors.append(item)
            continue
        first = rows.get(item.email)
        if first is None:
            rows[item.email] = item
        else:
            repeated(path, item.line, item.email, first.line, notes=notes, errors=errors,
                     same=(first.name, first.language) == (item.name, item.language))
    return list(rows.values()), notes, errors


def printable_list(names: list[str]) -> list[str]:
    """Column names as they may be shown: each quoted, control characters escaped."""
    return [ascii(n) if not n or UNSAFE.search(n) else n for n in names]


def import_file(session: Session, path: Path, *, skip_invalid: bool = False,
                keyed: Keyed | None = None) -> ImportReport:
    """Validate `path` and import it in the session's transaction: all or nothing unless
    `skip_invalid`. The file is streamed through a staging table (digest.audience.csv_stage).

    With `keyed`, addresses on the suppression list (erased) are refused, each with its line.
    """
    from digest.audience import csv_stage

    return csv_stage.import_stream(session, path, parse(path), skip_invalid=skip_invalid,
                                   keyed=keyed)
