"""Outcomes of a send run written to the outbox: the hot path's one transaction per group.

Invariant: only a row this run holds takes an outcome (see `_RECORD`), and the states of the
rows whose messages go next are read in the same transaction (see `OutcomeWriter.write`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from digest.delivery.outbox import STOP_ROWS, Attempt, D, RetryPolicy, S
from digest.delivery.transports.base import Outcome
from digest.store import subscriber_events
from digest.store.compiled import Compiled
from digest.store.db import writer_lock
from digest.store.group_commit import Waiter
from digest.store.models import (
    ActionReason,
    DeliveryState,
    SubscriberAction,
    SubscriberState,
    UTCDateTime,
)
from digest.store.subscriber_events import E


@dataclass(eq=False)
class Pending(Waiter):
    """An outcome to write (None: only a look at `watch`), and what the write found."""

    attempt: Attempt | None
    watch: list[int]  # claimed rows whose messages go next: still ours?
    gone: set[int] = field(default_factory=set)  # of `watch`, no longer ours (set when done)


# Only a row its run still holds takes an outcome: a run whose claims went stale and were
# taken over may still report a late outcome, and must not overwrite the new holder's claim or
# what it has recorded. A held row that was skipped (its subscriber left) while its message was
# on the wire takes the relay's acceptance (`late` is `skipped` only for those), so the outbox
# says who was really mailed. (A late 5xx still bounces the address: the refusal is the relay's.)
# The columns an outcome sets, each with the name of its parameter.
_SET = {"state": "new_state", "language": "lang", "message_id": "mid", "relay_reply": "reply",
        "sent_at": "sent", "last_error": "err", "next_attempt_at": "due", "claimed_by": "owner"}


def _record(value: Callable[[str], Any]) -> sa.Update:
    """The outcome UPDATE, its parameters taken from `value(name)`: bind parameters for the
    per-row statement, or the columns of a VALUES list for PostgreSQL's one-statement write."""
    return sa.update(D).where(
        D.c.id == value("did"), D.c.claimed_by == value("run"),
        sa.or_(D.c.state == value("claimed"), D.c.state == value("late"))
    ).values({column: value(name) for column, name in _SET.items()})


_RECORD = _record(sa.bindparam)
# A 5xx bounces an active subscriber (an unsubscribe stays one) and skips their other rows.
_BOUNCE = sa.update(S).where(
    S.c.id == sa.bindparam("sid"),
    S.c.state == sa.literal_column(f"'{SubscriberState.ACTIVE.value}'")).values(
    state=sa.bindparam("bounced"), updated_at=sa.bindparam("at"))


# The history row of a 5xx bounce, written only while the subscriber is still active (the
# `_BOUNCE` that follows turns exactly those into bounced): run before `_BOUNCE`.
_BOUNCE_EVENT = sa.insert(E).from_select(
    ["subscriber_id", "at", "action", "reason", "actor", "state", "language", "detail",
     "ip_hash"],
    sa.select(sa.bindparam("sid", type_=sa.Integer()), sa.bindparam("at", type_=UTCDateTime()),
              sa.bindparam("action", type_=sa.String()), sa.bindparam("reason", type_=sa.String()),
              sa.bindparam("actor", type_=sa.String()), sa.bindparam("state", type_=sa.String()),
              sa.bindparam("language", type_=sa.String()),
              sa.bindparam("detail", type_=sa.String()),
              sa.bindparam("ip_hash", type_=sa.String())).where(sa.exists().where(
        S.c.id == sa.bindparam("sid"),
        S.c.state == sa.literal_column(f"'{SubscriberState.ACTIVE.value}'"))))


def _bounce_events(attempts: list[Attempt]) -> list[dict[str, Any]]:
    """History rows for the subscribers a permanent failure bounces."""
    return [subscriber_events.event_row(
        a.row.subscriber_id, SubscriberAction.BOUNCED, SubscriberState.BOUNCED, a.row.language,
        a.at, "sender", ActionReason.SMTP, a.result.reply[:1000])
        for a in attempts if a.result.outcome is Outcome.PERMANENT]


def _outcome_rows(attempts: list[Attempt], policy: RetryPolicy
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The parameters of `_RECORD` for each attempt, and of `_BOUNCE` for each 5xx."""
    updates, bounces = [], []
    for a in attempts:
        values: dict[str, Any] = {
            "did": a.row.delivery_id, "lang": a.row.language, "mid": a.message_id,
            "reply": a.result.reply[:1000], "sent": None, "err": None, "due": None,
            "owner": None, "claimed": DeliveryState.SENDING, "late": None, "run": a.row.run_id}
        if a.result.outcome is Outcome.ACCEPTED:
            values.update(new_state=DeliveryState.SENT, sent=a.at, late=DeliveryState.SKIPPED)
        elif a.result.outcome is Outcome.TEMPORARY:
            due = policy.next_attempt(a.row.attempts, a.row.first_attempt_at, a.at)
            if due is None:
                values.update(new_state=DeliveryState.FAILED,
                              err=f"gave up after {a.row.attempts} attempts: {a.result.reply}")
            else:
                values.update(new_state=DeliveryState.RETRY, err=a.result.reply, due=due)
        else:
            values.update(new_state=DeliveryState.FAILED, err=a.result.reply)
            bounces.append({"sid": a.row.subscriber_id, "bounced": SubscriberState.BOUNCED,
                            "at": a.at})
        updates.append(values)
    return updates, bounces


# Only on the writer's own connection, which is discarded at close (never pooled): a server
# crash may forget the last outcomes (they are sent again), never an unsubscribe or anything
# else the web or the CLI commits.
ASYNC_COMMIT = "SET synchronous_commit = off"
# `_RECORD`'s parameters, as the columns of a VALUES list (PostgreSQL's one-statement write).
_COLUMNS = [("did", D.c.id.type), *((name, D.c[column].type) for column, name in _SET.items()),
            ("claimed", D.c.state.type), ("late", D.c.state.type), ("run", D.c.claimed_by.type)]


def _record_and_read(group: int) -> sa.Select[Any]:
    """PostgreSQL: `_RECORD` for `group` rows and the read of the watched rows, as one
    statement (an UPDATE ... FROM VALUES in a CTE), so one round trip and its own transaction.

    Both parts see the same snapshot, taken when the statement starts: an unsubscribe
    committed before the write is seen, as with the read after the write it replaces.
    """
    read = sa.select(D.c.id).where(
        D.c.claimed_by == sa.bindparam("watch_run"),
        D.c.state == sa.bindparam("sending", type_=D.c.state.type),
        D.c.id == sa.any_(sa.bindparam("watch", type_=postgresql.ARRAY(sa.Integer()))))
    if not group:
        return read
    v = sa.values(*[sa.column(n, t) for n, t in _COLUMNS], name="v").data(
        [tuple(sa.bindparam(f"{n}_{i}", type_=t) for n, t in _COLUMNS) for i in range(group)])
    rec = _record(lambda name: v.c[name]).returning(D.c.id).cte("rec")
    return read.add_cte(rec)


class OutcomeWriter:
    """Records outcomes for a send run on one DBAPI connection held for the whole run.

    This is the send's hot path (one transaction per message or group of messages), so the
    statements are compiled once by SQLAlchemy and executed on the DBAPI connection:
    SQLAlchemy's SQL and type conversions, without its per-call work. On SQLite a group is
    one IMMEDIATE transaction; on PostgreSQL, where each statement is a network round trip,
    a group without bounces is one statement in autocommit (`_record_and_read`), and the
    connection, set for that, is discarded at `close()` instead of going back to the pool.
    """

    def __init__(self, engine: Engine, run_id: str | None = None) -> None:
        self.engine = engine
        self.run_id = run_id
        self.sqlite = engine.dialect.name == "sqlite"
        self.record = Compiled(_RECORD, engine.dialect)
        self.bounce = Compiled(_BOUNCE, engine.dialect)
        self.skip_bounced = Compiled(STOP_ROWS, engine.dialect)
        self.history = Compiled(_BOUNCE_EVENT, engine.dialect)
        self.one_statement: dict[int, Compiled] = {}  # by group size (PostgreSQL)
        self.mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self.conn = engine.raw_connection()
        self.dbapi_error = engine.dialect.loaded_dbapi.Error
        if not self.sqlite:
            self.conn.driver_connection.autocommit = True  # type: ignore[union-attr]
            cursor = self.conn.cursor()
            cursor.execute(ASYNC_COMMIT)  # no WAL flush per outcome: see docs/delivery.md
            cursor.close()

    def _held(self, cursor: Any, watch: list[int]) -> set[int]:
        """Which of the rows in `watch` this run still holds (in the write's transaction)."""
        marks = ", ".join([self.mark] * len(watch))
        cursor.execute(f"SELECT id FROM delivery WHERE claimed_by = {self.mark} AND state = "
                       f"{self.mark} AND id IN ({marks})",
                       (self.run_id, DeliveryState.SENDING.value, *watch))
        return {int(row[0]) for row in cursor.fetchall()}

    def write(self, attempts: list[Attempt], policy: RetryPolicy,
              watch: list[int] | None = None) -> set[int]:
        """Write the outcomes of a group in one transaction; bounce 5xx addresses.

        Returns the rows in `watch` (claimed rows whose messages are about to go) that this
        run no longer holds: skipped since their claim, or taken over. Read after the writes,
        in the same transaction, so a sender sees every unsubscribe committed before it.
        """
        if not attempts and not watch:
            return set()
        updates, bounces = _outcome_rows(attempts, policy)
        with writer_lock(self.engine):
            cursor = self.conn.cursor()
            try:
                if not self.sqlite and not bounces:
                    return self._one_statement(cursor, updates, watch or [])
                # pysqlite's own transaction handling is off (digest.db); the PostgreSQL
                # connection is in autocommit, so the transaction is explicit on both.
                cursor.execute("BEGIN IMMEDIATE" if self.sqlite else "BEGIN")
                if updates:
                    cursor.executemany(self.record.sql, self.record.parameters(updates))
                if bounces:  # delivery rows before subscribers, as an unsubscribe does
                    cursor.executemany(self.skip_bounced.sql, self.skip_bounced.parameters(
                        [{"sid": b["sid"], "reason": "bounced"} for b in bounces]))
                    cursor.executemany(self.history.sql, self.history.parameters(
                        _bounce_events(attempts)))
                    cursor.executemany(self.bounce.sql, self.bounce.parameters(bounces))
                gone = set(watch) - self._held(cursor, watch) if watch else set()
                if self.sqlite:
                    self.conn.commit()
                else:
                    cursor.execute("COMMIT")
                return gone
            except self.dbapi_error as exc:  # raised as SQLAlchemy would, like any query
                self._rollback(cursor)
                raise sa.exc.DBAPIError.instance(self.record.sql, None, exc, self.dbapi_error,
                                                 dialect=self.engine.dialect) from exc
            except BaseException:
                self._rollback(cursor)
                raise
            finally:
                self._quietly(cursor.close)

    def _one_statement(self, cursor: Any, updates: list[dict[str, Any]],
                       watch: list[int]) -> set[int]:
        """PostgreSQL: the group's outcomes and the read of `watch` in one statement."""
        compiled = self.one_statement.get(len(updates))
        if compiled is None:
            compiled = Compiled(_record_and_read(len(updates)), self.engine.dialect)
            self.one_statement[len(updates)] = compiled
        values: dict[str, Any] = {"watch_run": self.run_id, "sending": DeliveryState.SENDING,
                                  "watch": watch}
        for i, row in enumerate(updates):
            values.update({f"{name}_{i}": row[name] for name, _ in _COLUMNS})
        cursor.execute(compiled.sql, compiled.parameters([values])[0])
        return set(watch) - {int(row[0]) for row in cursor.fetchall()}

    def _rollback(self, cursor: Any) -> None:
        """Roll back; on a lost connection there is nothing to roll back (the error raised
        is the one that lost it)."""
        if self.sqlite:
            self._quietly(self.conn.rollback)
        else:  # autocommit: a failed explicit transaction is ended by hand
            self._quietly(lambda: cursor.execute("ROLLBACK"))

    def _quietly(self, call: Any) -> None:
        with contextlib.suppress(self.dbapi_error):
            call()

    def close(self) -> None:
        """Give the connection back to the pool (which discards it if it is broken); on
        PostgreSQL discard it, as it is set for outcome writes only."""
        if not self.sqlite:
            self._quietly(self.conn.invalidate)
        self._quietly(self.conn.close)
