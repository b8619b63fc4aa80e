"""The subscribers list: search, filters, counts and pages, with indexed queries only.

- a search matches a prefix of the address (the unique index on `email`, which is stored
  lower-case with an IDN domain in IDNA, as a domain typed in Unicode is searched) or of
  the name (the index on `lower(name)`), as a range the index can seek
  (`>= prefix AND < next`) plus a LIKE that makes the match exact under any collation;
- state and language filters use the (state, language, id) and (language, id) indexes;
- pages are keyset pages in id order (newest first): `before`/`after` an id, never OFFSET,
  so the last page costs what the first does;
- the counts per state and language are one GROUP BY over the (state, language, id) index.
Figures at 100,000 subscribers: docs/performance.md ("The subscribers list").
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from digest.audience.address import stored_prefix
from digest.store.models import Language, Subscriber, SubscriberState, core_table

S = core_table(Subscriber)
PAGE_SIZE = 50


@dataclass(frozen=True)
class Filter:
    """What the list shows: a search text and optional state and language."""

    q: str = ""
    state: SubscriberState | None = None
    language: Language | None = None


@dataclass(frozen=True)
class Row:
    """One subscriber as the list shows them."""

    id: int
    email: str
    name: str
    language: Language
    state: SubscriberState
    created_at: datetime
    updated_at: datetime


@dataclass
class Page:
    """One page of the list, with the ids to ask for the pages around it."""

    rows: list[Row]
    older: int | None  # pass as `before` for the next page (None: this is the last)
    newer: int | None  # pass as `after` for the previous page (None: this is the first)


@dataclass
class Counts:
    """Subscribers per state and language."""

    cells: Counter[tuple[str, str]] = field(default_factory=Counter)

    def state(self, state: SubscriberState) -> int:
        """All languages of one state."""
        return sum(n for (s, _), n in self.cells.items() if s == state.value)

    def language(self, language: Language, *, active_only: bool = True) -> int:
        """One language, of active subscribers (or of everyone but the erased)."""
        return sum(n for (s, lang), n in self.cells.items() if lang == language.value and (
            s == SubscriberState.ACTIVE.value if active_only
            else s != SubscriberState.ERASED.value))

    def matching(self, f: Filter) -> int:
        """How many the filter's state and language select (the search aside)."""
        return sum(n for (s, lang), n in self.cells.items()
                   if ((f.state is None and s != SubscriberState.ERASED.value)
                       or (f.state is not None and s == f.state.value))
                   and (f.language is None or lang == f.language.value))


def counts(session: Session) -> Counts:
    """Subscribers per (state, language): one GROUP BY over an index."""
    out = Counts()
    for state, language, n in session.execute(
            sa.select(S.c.state, S.c.language, sa.func.count()).group_by(S.c.state,
                                                                         S.c.language)):
        out.cells[(getattr(state, "value", state), getattr(language, "value", language))] = n
    return out


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix(column: Any, prefix: str) -> sa.ColumnElement[bool]:
    """`column` starts with `prefix`, as a range an index can seek, made exact by LIKE."""
    like = column.like(_escape(prefix) + "%", escape="\\")
    # The next string after every string with this prefix: its last character that is not
    # the last code point (U+10FFFF, which has no next one) moved on by one.
    head = prefix.rstrip(chr(sys.maxunicode))
    if not head:  # only U+10FFFF: no upper bound
        return sa.and_(column >= prefix, like)
    upper = head[:-1] + chr(ord(head[-1]) + 1)
    return sa.and_(column >= prefix, column < upper, like)


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


def conditions(f: Filter, dialect: str) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of a filter (the erased are left out unless asked for)."""
    where: list[sa.ColumnElement[bool]] = []
    q = f.q.strip()
    if q:
        # Stored lower-cased by Python, with an IDN domain in IDNA (address.stored_form).
        by_email = _prefix(S.c.email, stored_prefix(q) if "@" in q else q.lower())
        # The name is folded by the database's lower(): SQLite's folds ASCII letters only,
        # so there the search text is folded the same way (Ŵ finds Ŵ, ŵ finds ŵ).
        name_q = q.lower() if dialect == "postgresql" else _ascii_lower(q)
        where.append(by_email if "@" in q else sa.or_(
            by_email, _prefix(sa.func.lower(S.c.name), name_q)))
    if f.state is not None:
        where.append(S.c.state == f.state.value)
    else:
        where.append(S.c.state != SubscriberState.ERASED.value)
    if f.language is not None:
        where.append(S.c.language == f.language.value)
    return where


def page(session: Session, f: Filter, *, before: int | None = None, after: int | None = None,
         size: int = PAGE_SIZE) -> Page:
    """One page, newest first: the `size` rows older than `before`, or newer than `after`."""
    query = sa.select(S.c.id, S.c.email, S.c.name, S.c.language, S.c.state, S.c.created_at,
                      S.c.updated_at).where(*conditions(f, session.get_bind().dialect.name))
    if after is not None:  # the previous page: the nearest newer rows, read upwards
        found = list(session.execute(query.where(S.c.id > after).order_by(S.c.id.asc())
                                     .limit(size + 1)))
        more_newer = len(found) > size
        rows = [Row(*r) for r in reversed(found[:size])]
        return Page(rows, rows[-1].id if rows else None,
                    rows[0].id if rows and more_newer else None)
    if before is not None:
        query = query.where(S.c.id < before)
    found = list(session.execute(query.order_by(S.c.id.desc()).limit(size + 1)))
    rows = [Row(*r) for r in found[:size]]
    older = rows[-1].id if len(found) > size and rows else None
    return Page(rows, older, rows[0].id if rows and before is not None else None)
