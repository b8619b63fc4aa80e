"""Subscriber import from CSV (`email,name,language`): validate, normalise, all or nothing.

Every bad line is reported as `file:line: field: what`, and a file with any bad line imports
nothing (unless the good lines are asked for). A file that cannot be read raises OSError.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session

from digest.audience import history, suppression
from digest.audience.keyed import Keyed
from digest.store.models import Language, Subscriber, SubscriberState, now_utc

REQUIRED_COLUMNS = ("email", "language")
KNOWN_COLUMNS = ("email", "name", "language")
MAX_NAME = 200  # characters: a name is a display name in every To: header
# C0 and C1 controls (NUL, tab, CR, LF, ESC...), DEL, and the Unicode line separators:
# nothing a name, an address or a language code may hold.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BREAK = re.compile("\r\n|\r|\n")


def control_character(text: str) -> str | None:
    """A description of the first control character in `text`, or None."""
    found = CONTROL.search(text)
    if found is None:
        return None
    return f"contains a control character (U+{ord(found[0]):04X}) at character {found.start() + 1}"


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


@dataclass(frozen=True)
class Row:
    """A valid, normalised line."""

    line: int
    email: str
    name: str
    language: Language


@dataclass
class ImportReport:
    """What an import did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_inactive: int = 0  # unsubscribed/bounced people are never re-activated by an import
    duplicates: list[str] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def normalise_email(raw: str) -> str:
    """Validate syntax (no DNS) and return the address lower-cased, its domain in ASCII
    (IDNA: `bücher.de` is `xn--bcher-kva.de`, as SMTP and every header need it); raises
    ValueError."""
    if not raw.strip():
        raise ValueError("the address is empty")
    try:
        result = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return (result.ascii_email or result.normalized).lower()


def parse_language(raw: str) -> Language:
    """`cy`, `en` or `both` (any case); raises ValueError otherwise."""
    try:
        return Language(raw.strip().lower())
    except ValueError:
        raise ValueError(f"{raw.strip()!r} is not one of cy, en, both") from None


def _field_problem(record: dict[str | None, str | None]) -> tuple[str, str] | None:
    """The first (field, problem) that no field may have: control characters, a long name."""
    for name in KNOWN_COLUMNS:
        value = record.get(name) or ""
        if (problem := control_character(value)) is not None:
            return name, problem
    name = (record.get("name") or "").strip()
    if len(name) > MAX_NAME:
        return "name", f"longer than {MAX_NAME} characters ({len(name):,})"
    return None


def read_csv(path: Path) -> tuple[list[Row], list[str], list[LineError]]:
    """Parse and validate the file: good rows, duplicate notes, and every bad line.

    Raises OSError (with the file name) when the file cannot be read.
    """
    rows: dict[str, Row] = {}
    notes: list[str] = []
    errors: list[LineError] = []
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:  # decode whole, so the error names the line the bad byte is on
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return [], [], [LineError(path, line, "file", f"not valid UTF-8 ({exc.reason})")]
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle, strict=True)  # an unclosed quote is an error
        try:
            header = [h.strip().lower() for h in reader.fieldnames or []]
        except csv.Error as exc:
            return [], [], [LineError(path, 1, "header", str(exc))]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        unknown = [c for c in header if c not in KNOWN_COLUMNS]
        twice = sorted({c for c in header if header.count(c) > 1})
        if missing or unknown or twice:
            msg = "; ".join(filter(None, [
                f"missing column(s): {', '.join(missing)}" if missing else "",
                f"unknown column(s): {', '.join(printable_list(unknown))}" if unknown else "",
                f"column(s) given twice: {', '.join(twice)}" if twice else "",
            ]))
            return [], [], [LineError(path, 1, "header", f"{msg} (expected email,name,language)")]
        reader.fieldnames = header
        done = reader.line_num  # the last line of the last record read
        try:
            for record in reader:
                # The line the record starts on: a quoted field may hold line breaks.
                line = reader.line_num - sum(len(_BREAK.findall(v)) for v in record.values()
                                             if isinstance(v, str))
                done = reader.line_num
                if None in record:
                    errors.append(LineError(path, line, "line", "more fields than columns"))
                    continue
                if not any((v or "").strip() for v in record.values()):
                    continue  # blank line
                if (problem := _field_problem(record)) is not None:
                    errors.append(LineError(path, line, *problem))
                    continue
                try:
                    email = normalise_email(record.get("email") or "")
                except ValueError as exc:
                    errors.append(LineError(path, line, "email", str(exc)))
                    continue
                try:
                    language = parse_language(record.get("language") or "")
                except ValueError as exc:
                    errors.append(LineError(path, line, "language", str(exc)))
                    continue
                row = Row(line, email, (record.get("name") or "").strip(), language)
                first = rows.get(email)
                if first is None:
                    rows[email] = row
                elif (first.name, first.language) == (row.name, row.language):
                    notes.append(f"line {line}: {email} repeats line {first.line}; ignored")
                else:
                    errors.append(LineError(path, line, "email",
                                            f"{email} is already on line {first.line} "
                                            "with a different name or language"))
        except csv.Error as exc:  # reading stops here; the file is refused all the same
            errors.append(LineError(path, done + 1, "line", f"{exc} (an unclosed quote?)"
                                    if "end of data" in str(exc) else str(exc)))
    return list(rows.values()), notes, errors


def printable_list(names: list[str]) -> list[str]:
    """Column names as they may be shown: each quoted, control characters escaped."""
    return [ascii(n) if not n or control_character(n) else n for n in names]


def import_rows(session: Session, rows: list[Row], source: Path | None = None) -> ImportReport:
    """Insert new subscribers as active, update name/language of known ones; caller commits.

    New people get a consent record naming `source` and their line; their history and a
    language change of a known person are recorded (digest.audience.history)."""
    report = ImportReport()
    table = Subscriber.__table__  # type: ignore[attr-defined]
    existing: dict[str, tuple[int, str, Language, SubscriberState]] = {}
    emails = [r.email for r in rows]
    for start in range(0, len(emails), 1000):
        chunk = emails[start:start + 1000]
        query = sa.select(table.c.email, table.c.id, table.c.name, table.c.language,
                          table.c.state).where(table.c.email.in_(chunk))
        for email, sid, name, language, state in session.execute(query):
            existing[email] = (sid, name, language, state)
    now = now_utc()
    inserts, updates, lines = [], [], {}
    for row in rows:
        known = existing.get(row.email)
        if known is None:
            inserts.append({"email": row.email, "name": row.name, "language": row.language,
                            "state": SubscriberState.ACTIVE, "created_at": now,
                            "updated_at": now})
            lines[row.email] = row
        elif known[3] in (SubscriberState.UNSUBSCRIBED, SubscriberState.BOUNCED):
            report.kept_inactive += 1
        elif (known[1], known[2]) != (row.name, row.language):
            updates.append({"sid": known[0], "name": row.name, "language": row.language,
                            "updated_at": now})
        else:
            report.unchanged += 1
    if inserts:
        session.execute(sa.insert(table), inserts)
    if updates:
        session.execute(
            sa.update(table).where(table.c.id == sa.bindparam("sid"))
            .values(name=sa.bindparam("name"), language=sa.bindparam("language"),
                    updated_at=sa.bindparam("updated_at")),
            updates,
        )
    report.added, report.updated = len(inserts), len(updates)
    added = [(sid, lines[email].line, lines[email].language)
             for email, sid in _ids(session, list(lines))]
    moved = [(known[0], row.language, known[3]) for row in rows
             if (known := existing.get(row.email)) and known[2] is not row.language
             and known[3] not in (SubscriberState.UNSUBSCRIBED, SubscriberState.BOUNCED)]
    history.imported(session, source, added, moved, now)
    return report


def _ids(session: Session, emails: list[str]) -> list[tuple[str, int]]:
    table = Subscriber.__table__  # type: ignore[attr-defined]
    out: list[tuple[str, int]] = []
    for start in range(0, len(emails), 1000):
        out += [(e, i) for e, i in session.execute(sa.select(table.c.email, table.c.id).where(
            table.c.email.in_(emails[start:start + 1000])))]
    return out


def import_file(session: Session, path: Path, *, skip_invalid: bool = False,
                keyed: Keyed | None = None) -> ImportReport:
    """Validate `path` and import it: all or nothing unless `skip_invalid`.

    With `keyed`, addresses on the suppression list (erased) are refused, each with its line.
    """
    rows, notes, errors = read_csv(path)
    if keyed is not None and rows:
        refused = suppression.suppressed(session, keyed, [r.email for r in rows])
        errors += [LineError(path, r.line, "email", f"{r.email}: {suppression.REFUSED}")
                   for r in rows if r.email in refused]
        rows = [r for r in rows if r.email not in refused]
        errors.sort(key=lambda e: e.line)
    if errors and (not skip_invalid or not rows):
        raise ImportInvalid(errors)
    report = import_rows(session, rows, path)
    report.duplicates, report.errors = notes, errors
    return report
