"""The import's staging table: parsed rows streamed in, checked and applied with set SQL.

Memory stays flat with the file's size: rows go to a temporary table in chunks, repeats
and suppressed addresses are found there, and the subscribers, consent records and history
are written with `INSERT ... SELECT` / `UPDATE ... FROM`. Everything runs in the caller's
transaction, so a bad line anywhere leaves nothing written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from digest.audience import suppression
from digest.audience.csv_lines import (
    ImportInvalid,
    ImportReport,
    Item,
    LineError,
    NotActive,
    repeated,
)
from digest.audience.keyed import Keyed
from digest.store.models import (
    ActionReason,
    ConsentSource,
    SubscriberAction,
    SubscriberState,
    Suppression,
    UTCDateTime,
    now_utc,
)
from digest.text import one_line

CHUNK = 5_000
STAGE = "import_stage"
_INACTIVE = (SubscriberState.UNSUBSCRIBED.value, SubscriberState.BOUNCED.value)
_CREATE = {
    "sqlite": f"CREATE TEMP TABLE {STAGE} (line INTEGER PRIMARY KEY, email TEXT NOT NULL, "
              "name TEXT NOT NULL, language TEXT NOT NULL, sid INTEGER, old_name TEXT, "
              "old_language TEXT, old_state TEXT)",
    "postgresql": f"CREATE TEMP TABLE {STAGE} (line INTEGER PRIMARY KEY, email TEXT NOT NULL, "
                  "name TEXT NOT NULL, language TEXT NOT NULL, sid INTEGER, old_name TEXT, "
                  "old_language TEXT, old_state TEXT) ON COMMIT DROP",
}


def _sql(session: Session, statement: str, **params: Any) -> sa.CursorResult[Any]:
    text = sa.text(statement)
    if "now" in params:
        text = text.bindparams(sa.bindparam("now", type_=UTCDateTime()))
    return session.connection().execute(text, params)


def _rows(session: Session, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in _sql(session, statement, **params)]


def _chunks(items: Iterable[Item], errors: list[LineError],
            not_active: list[int]) -> Iterator[list[tuple[int, str, str, str]]]:
    chunk: list[tuple[int, str, str, str]] = []
    for item in items:
        if isinstance(item, NotActive):
            not_active.append(item.line)
            continue
        if isinstance(item, LineError):
            if item.field in ("file", "header"):
                raise ImportInvalid([item])  # the whole file is refused, with this one line
            errors.append(item)
            continue
        chunk.append((item.line, item.email, item.name, item.language._value_))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _load(session: Session, items: Iterable[Item],
          errors: list[LineError], not_active: list[int]) -> None:
    """Stream the rows into the staging table: executemany on SQLite, COPY on PostgreSQL."""
    dialect = session.get_bind().dialect.name
    # `temp.` on SQLite: an unqualified name reads the main database, starting the snapshot
    # that a writer committing during the load would make stale (and the import's writes fail).
    _sql(session, f"DROP TABLE IF EXISTS {'temp.' if dialect == 'sqlite' else ''}{STAGE}")
    _sql(session, _CREATE[dialect])
    raw = session.connection().connection.driver_connection
    assert raw is not None
    columns = "line, email, name, language"
    for chunk in _chunks(items, errors, not_active):
        if dialect == "postgresql":
            with raw.cursor() as cur, cur.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as copy:
                for row in chunk:
                    copy.write_row(row)
        else:
            cur = raw.cursor()
            cur.executemany(f"INSERT INTO {STAGE} ({columns}) VALUES (?, ?, ?, ?)", chunk)
            cur.close()


def _repeats(session: Session, path: Path, notes: list[str], errors: list[LineError]) -> None:
    """Keep each address's first line; a later one is a note if identical, else an error."""
    _sql(session, f"CREATE INDEX {STAGE}_email ON {STAGE} (email, line)")
    if session.get_bind().dialect.name == "postgresql":
        _sql(session, f"ANALYZE {STAGE}")  # autovacuum never sees a temporary table
    if _sql(session, f"SELECT 1 FROM {STAGE} GROUP BY email HAVING count(*) > 1 LIMIT 1"
            ).first() is None:
        return
    found = _rows(session, f"""
        SELECT line, email, first, same FROM (
            SELECT line, email, first_value(line) OVER w AS first,
                   CASE WHEN name = first_value(name) OVER w
                         AND language = first_value(language) OVER w THEN 1 ELSE 0 END AS same
            FROM {STAGE} WINDOW w AS (PARTITION BY email ORDER BY line)) AS r
        WHERE line > first ORDER BY line""")
    for line, email, first, same in found:
        repeated(path, line, email, first, same=bool(same), notes=notes, errors=errors)
    _sql(session, f"DELETE FROM {STAGE} WHERE EXISTS (SELECT 1 FROM {STAGE} f "
                  f"WHERE f.email = {STAGE}.email AND f.line < {STAGE}.line)")


def _suppressed(session: Session, path: Path, keyed: Keyed, errors: list[LineError]) -> None:
    """Refuse (and unstage) addresses on the suppression list; no hashing when it is empty."""
    if _sql(session, f"SELECT 1 FROM {Suppression.__tablename__} LIMIT 1").first() is None:
        return
    after, refused = 0, []
    while batch := _rows(session, f"SELECT line, email FROM {STAGE} WHERE line > :after "
                                  "ORDER BY line LIMIT 1000", after=after):
        hit = suppression.suppressed(session, keyed, [email for _, email in batch])
        refused += [(line, email) for line, email in batch if email in hit]
        after = batch[-1][0]
    for line, email in refused:
        errors.append(LineError(path, line, "email", f"{email}: {suppression.REFUSED}"))
    if refused:
        session.execute(sa.text(f"DELETE FROM {STAGE} WHERE line = :line"),
                        [{"line": line} for line, _ in refused])


def recorded_name(path: Path) -> str:
    """The file name as a consent record and a history keep it: bytes that are not UTF-8
    (which Python holds as lone surrogates, that no database stores) as U+FFFD, control
    characters as spaces (digest.text.one_line), at most 500 characters."""
    text = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return one_line(text)[:500]


def _apply(session: Session, path: Path) -> ImportReport:
    """Write the staged rows: new people with consent and history, changes to known ones."""
    now, name = now_utc(), recorded_name(path)
    inactive = {"gone1": _INACTIVE[0], "gone2": _INACTIVE[1]}
    if session.get_bind().dialect.name == "postgresql":
        # The known people's rows first, in id order (two imports cannot deadlock): an
        # unsubscribe beside the import is waited for, and the next statement reads the state
        # it committed, so nobody who just left is changed or recorded as still active.
        _sql(session, f"SELECT s.id FROM subscriber AS s JOIN {STAGE} ON s.email = "
                      f"{STAGE}.email ORDER BY s.id FOR UPDATE OF s")
    _sql(session, f"UPDATE {STAGE} SET sid = s.id, old_name = s.name, "
                  "old_language = s.language, old_state = s.state "
                  f"FROM subscriber AS s WHERE s.email = {STAGE}.email")
    counted = _rows(session, f"""SELECT
        coalesce(sum(CASE WHEN old_state IN (:gone1, :gone2) THEN 1 ELSE 0 END), 0),
        coalesce(sum(CASE WHEN old_state NOT IN (:gone1, :gone2) AND old_name = name
                          AND old_language = language THEN 1 ELSE 0 END), 0)
        FROM {STAGE} WHERE sid IS NOT NULL""", **inactive)[0]
    report = ImportReport(kept_inactive=int(counted[0]), unchanged=int(counted[1]))
    changed = (f"{STAGE}.sid IS NOT NULL AND {STAGE}.old_state NOT IN (:gone1, :gone2)")
    report.updated = _sql(session, f"""UPDATE subscriber SET name = {STAGE}.name,
        language = {STAGE}.language, updated_at = :now FROM {STAGE}
        WHERE subscriber.id = {STAGE}.sid AND {changed} AND ({STAGE}.old_name <> {STAGE}.name
              OR {STAGE}.old_language <> {STAGE}.language)""", now=now, **inactive).rowcount
    report.added = _sql(session, f"""INSERT INTO subscriber
        (email, name, language, state, created_at, updated_at)
        SELECT email, name, language, :active, :now, :now FROM {STAGE}
        WHERE sid IS NULL ORDER BY line""", now=now,
                        active=SubscriberState.ACTIVE.value).rowcount
    new = f"FROM {STAGE} JOIN subscriber AS s ON s.email = {STAGE}.email WHERE {STAGE}.sid IS NULL"
    _sql(session, f"""INSERT INTO consent (subscriber_id, source, at, import_file, import_line)
        SELECT s.id, :source, :now, :file, {STAGE}.line {new} ORDER BY {STAGE}.line""",
         now=now, source=ConsentSource.IMPORT.value, file=name)
    events = "INSERT INTO subscriber_event (subscriber_id, at, action, reason, actor, state, " \
             "language, detail, ip_hash)"
    _sql(session, f"""{events} SELECT s.id, :now, :action, :reason, :actor, :active,
        {STAGE}.language, :prefix || CAST({STAGE}.line AS VARCHAR(20)), NULL {new}
        ORDER BY {STAGE}.line""", now=now, action=SubscriberAction.SUBSCRIBED.value,
         reason=ActionReason.IMPORT.value, actor="import", active=SubscriberState.ACTIVE.value,
         prefix=f"{name}:")
    _sql(session, f"""{events} SELECT sid, :now, :action, :reason, :actor, old_state, language,
        NULL, NULL FROM {STAGE} WHERE {changed} AND old_language <> language ORDER BY line""",
         now=now, action=SubscriberAction.LANGUAGE_CHANGED.value,
         reason=ActionReason.IMPORT.value, actor="import", **inactive)
    return report


def import_stream(session: Session, path: Path, items: Iterable[Item], *,
                  skip_invalid: bool, keyed: Keyed | None) -> ImportReport:
    """Stage `items` (csv_import.parse), check them, and apply them (see csv_import)."""
    notes: list[str] = []
    errors: list[LineError] = []
    not_active: list[int] = []
    _load(session, items, errors, not_active)
    _repeats(session, path, notes, errors)
    if session.get_bind().dialect.name == "sqlite":
        # The write lock before the first read of the main database (it waits in the busy
        # handler): no snapshot can go stale between the checks and the writes.
        _sql(session, "UPDATE subscriber SET id = id WHERE 0 = 1")
    if keyed is not None:
        _suppressed(session, path, keyed, errors)
    errors.sort(key=lambda e: e.line)
    staged = _sql(session, f"SELECT count(*) FROM {STAGE}").scalar_one()
    if errors and (not skip_invalid or not staged):
        _sql(session, f"DROP TABLE {STAGE}")
        raise ImportInvalid(errors)
    report = _apply(session, path)
    _sql(session, f"DROP TABLE {STAGE}")
    report.duplicates, report.errors = notes, errors
    report.not_active = len(not_active)
    return report
