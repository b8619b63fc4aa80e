"""The list as CSV, streamed: rows are read from a server-side cursor in batches and each
line is yielded as it is written, so memory does not grow with the list."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.audience import csv_import
from digest.audience.directory import Filter, conditions
from digest.audience.spreadsheet import cell
from digest.store.models import Consent, Subscriber, core_table

# What `digest subscribers import` reads, first, then the state and the dates (which an
# import reads past).
COLUMNS = csv_import.KNOWN_COLUMNS + csv_import.EXPORT_COLUMNS
BATCH = 2000
S = core_table(Subscriber)
C = core_table(Consent)


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else ""


class _Lines:
    """Formats one CSV line at a time with one writer over one reused buffer."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def __call__(self, values: tuple[object, ...]) -> str:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(values)
        return self.buffer.getvalue()


def stream_csv(engine: Engine, f: Filter | None = None) -> Iterator[str]:
    """The header, then one CSV line per subscriber the filter selects, in id order."""
    _line = _Lines()
    yield _line(COLUMNS)
    query = (sa.select(S.c.email, S.c.name, S.c.language, S.c.state, S.c.created_at,
                       S.c.updated_at, C.c.source, C.c.at)
             .select_from(S.outerjoin(C, C.c.subscriber_id == S.c.id))
             .where(*conditions(f or Filter(), engine.dialect.name)).order_by(S.c.id))
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=BATCH).execute(query)
        for email, name, language, state, created, updated, source, at in result:
            yield _line((cell(email), cell(name or ""), language.value, state.value, _iso(created),
                         _iso(updated), source.value if source else "", _iso(at)))
