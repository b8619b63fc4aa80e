"""The outbox in the database: create rows, claim them, record outcomes, report status.

Invariants:
- one row per (issue, subscriber), enforced by a unique constraint; creation is one
  INSERT ... SELECT that skips existing rows, so running it twice adds nothing;
- a claim (state `sending`, `claimed_by`, `claimed_at`) is taken in a write transaction
  (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE), so concurrent senders
  never claim the same row; the holder refreshes `claimed_at` while it lives, and a claim
  older than the lease belongs to a dead run and is claimed again;
- a row becomes `sent` only once the relay has accepted its message.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.delivery.transports.base import Outcome, SendResult
from digest.store import subscriber_events
from digest.store.db import session_scope, writer_lock
from digest.store.models import (
    ActionReason,
    Delivery,
    DeliveryState,
    Language,
    Subscriber,
    SubscriberAction,
    SubscriberState,
    UTCDateTime,
)

D = Delivery.__table__  # type: ignore[attr-defined]
S = Subscriber.__table__  # type: ignore[attr-defined]
OPEN_STATES = (DeliveryState.PENDING, DeliveryState.RETRY, DeliveryState.SENDING)


@dataclass(frozen=True)
class Claimed:
    """A claimed row with what its message needs."""

    delivery_id: int
    subscriber_id: int
    email: str
    name: str
    language: Language
    attempts: int
    first_attempt_at: datetime


@dataclass(frozen=True)
class Attempt:
    """The outcome of one attempt, ready to record."""

    row: Claimed
    result: SendResult
    message_id: str
    at: datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for temporary failures, and the deadline after which they are final."""

    base: timedelta
    cap: timedelta
    deadline: timedelta

    def next_attempt(self, attempts: int, first: datetime, now: datetime) -> datetime | None:
        """When to try again after `attempts` tries, or None when the deadline has passed."""
        delay = min(self.base * (2 ** max(attempts - 1, 0)), self.cap)
        due = now + delay
        return None if due > first + self.deadline else due


def create_deliveries(session: Session, issue_id: int) -> int:
    """Add a pending row for every active subscriber not yet in the outbox; returns rows added."""
    exists = sa.select(D.c.id).where(D.c.issue_id == issue_id, D.c.subscriber_id == S.c.id)
    select_new = sa.select(
        sa.literal(issue_id), S.c.id, sa.literal(DeliveryState.PENDING.value), sa.literal(0)
    ).where(S.c.state == SubscriberState.ACTIVE.value, ~sa.exists(exists))
    count = sa.select(sa.func.count()).select_from(D).where(D.c.issue_id == issue_id)
    before = session.execute(count).scalar_one()
    columns = ["issue_id", "subscriber_id", "state", "attempts"]
    # Two senders starting together both get past NOT EXISTS (neither sees the other's
    # uncommitted rows); ON CONFLICT DO NOTHING makes the second one wait, then skip them.
    insert = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)
    session.execute(insert(D).from_select(columns, select_new)
                    .on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"]))
    # rowcount of INSERT ... SELECT is -1 under psycopg 3 with SQLAlchemy 2.1, so count.
    return int(session.execute(count).scalar_one() - before)


_NOW = sa.bindparam("now", type_=UTCDateTime())
_CLAIMED = (D.c.id, S.c.state, S.c.id, S.c.email, S.c.name, S.c.language, D.c.attempts,
            D.c.first_attempt_at)


@functools.cache
def _claim_queries(for_update: bool) -> tuple[sa.Select[Any], ...]:
    """One query per kind of due row, in the order they are claimed, built once.

    Queried one by one, each uses the (issue_id, state, id) index and stops after `limit` rows;
    an OR of the three made SQLite read and sort the issue's whole outbox on every claim
    (docs/performance.md).
    """
    kinds = [
        D.c.state == DeliveryState.PENDING.value,
        sa.and_(D.c.state == DeliveryState.RETRY.value, D.c.next_attempt_at <= _NOW),
        sa.and_(D.c.state == DeliveryState.SENDING.value,
                D.c.claimed_at < sa.bindparam("stale_before", type_=UTCDateTime())),
    ]
    queries = []
    for kind in kinds:
        query = (sa.select(*_CLAIMED).join(S, S.c.id == D.c.subscriber_id)
                 .where(D.c.issue_id == sa.bindparam("issue_id"), kind).order_by(D.c.id)
                 .limit(sa.bindparam("limit", type_=sa.Integer())))
        queries.append(query.with_for_update(of=D, skip_locked=True) if for_update else query)
    return tuple(queries)


_IDS: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
_SKIP = sa.update(D).where(D.c.id.in_(_IDS)).values(
    state=DeliveryState.SKIPPED.value, claimed_by=None, last_error="subscriber no longer active")
_TAKE = sa.update(D).where(D.c.id.in_(_IDS)).values(
    state=DeliveryState.SENDING.value, claimed_by=sa.bindparam("run_id"), claimed_at=_NOW,
    attempts=D.c.attempts + 1, first_attempt_at=sa.func.coalesce(D.c.first_attempt_at, _NOW))


def claim(engine: Engine, issue_id: int, run_id: str, limit: int, now: datetime,
          lease: timedelta) -> list[Claimed]:
    """Claim up to `limit` due rows for `run_id`; rows of departed subscribers become skipped."""
    found: list[Any] = []
    with writer_lock(engine), engine.connect() as conn, \
            conn.execution_options(sqlite_immediate=True).begin():
        # The rows read here are locked (PostgreSQL) or the database is (SQLite) until the
        # commit, so the attempts and first attempt read are the ones the UPDATE changes.
        for query in _claim_queries(engine.dialect.name == "postgresql"):
            if len(found) >= limit:
                break
            found += conn.execute(query, {"issue_id": issue_id, "now": now,
                                          "stale_before": now - lease,
                                          "limit": limit - len(found)}).all()
        gone = [row[0] for row in found if row[1] is not SubscriberState.ACTIVE]
        taken = sorted((row for row in found if row[1] is SubscriberState.ACTIVE),
                       key=lambda row: row[0])
        if gone:
            conn.execute(_SKIP, {"ids": gone})
        if taken:
            conn.execute(_TAKE, {"ids": [row[0] for row in taken], "run_id": run_id,
                                 "now": now})
    return [Claimed(did, sid, email, name, language, attempts + 1, first or now)
            for did, _, sid, email, name, language, attempts, first in taken]


# Only a claimed row takes an outcome: a run whose claims went stale and were taken over may
# still report a late outcome, and must not overwrite what the new holder has recorded.
_RECORD = sa.update(D).where(
    D.c.id == sa.bindparam("did"), D.c.state == sa.bindparam("claimed")).values(
    state=sa.bindparam("new_state"), language=sa.bindparam("lang"),
    message_id=sa.bindparam("mid"), relay_reply=sa.bindparam("reply"),
    sent_at=sa.bindparam("sent"), last_error=sa.bindparam("err"),
    next_attempt_at=sa.bindparam("due"), claimed_by=sa.bindparam("owner"))
_BOUNCE = sa.update(S).where(S.c.id == sa.bindparam("sid")).values(
    state=sa.bindparam("bounced"), updated_at=sa.bindparam("at"))


def _outcome_rows(attempts: list[Attempt], policy: RetryPolicy
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The parameters of `_RECORD` for each attempt, and of `_BOUNCE` for each 5xx."""
    updates, bounces = [], []
    for a in attempts:
        values: dict[str, Any] = {
            "did": a.row.delivery_id, "lang": a.row.language, "mid": a.message_id,
            "reply": a.result.reply[:1000], "sent": None, "err": None, "due": None,
            "owner": None, "claimed": DeliveryState.SENDING}
        if a.result.outcome is Outcome.ACCEPTED:
            values.update(new_state=DeliveryState.SENT, sent=a.at)
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


def _bounce_events(attempts: list[Attempt]) -> list[dict[str, Any]]:
    """History rows for the subscribers a permanent failure bounced."""
    return [subscriber_events.event_row(
        a.row.subscriber_id, SubscriberAction.BOUNCED, SubscriberState.BOUNCED, a.row.language,
        a.at, "sender", ActionReason.SMTP, a.result.reply[:1000])
        for a in attempts if a.result.outcome is Outcome.PERMANENT]


class _Compiled:
    """A Core statement compiled once for a dialect, with its parameters' type conversions."""

    def __init__(self, statement: sa.Update | sa.Insert, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order = compiled.positiontup if compiled.positional else None
        # The dialect's own processors: a TypeDecorator's bind_processor() alone skips its
        # impl's (SQLite's DATETIME format), and times would be stored in two text formats.
        self.convert = {name: fn for name, bind in compiled.binds.items()
                        if (fn := bind.type.dialect_impl(dialect).bind_processor(dialect))
                        is not None}

    def parameters(self, rows: list[dict[str, Any]]) -> list[Any]:
        """Rows as the DBAPI takes them: converted, and as tuples for positional styles."""
        for row in rows:
            for name, fn in self.convert.items():
                row[name] = fn(row[name])
        if self.order is None:
            return rows
        return [tuple(row[name] for name in self.order) for row in rows]


class OutcomeWriter:
    """Records outcomes for a send run on one DBAPI connection held for the whole run.

    This is the send's hot path (one transaction per message or group of messages), so the
    two statements are compiled once by SQLAlchemy and executed with the DBAPI's
    `executemany`: SQLAlchemy's SQL and type conversions, without its per-call work
    (a quarter more messages per second with 4 connections, docs/performance.md).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.record = _Compiled(_RECORD, engine.dialect)
        self.bounce = _Compiled(_BOUNCE, engine.dialect)
        self.history = _Compiled(subscriber_events.INSERT, engine.dialect)
        self.conn = engine.raw_connection()
        self.dbapi_error = engine.dialect.loaded_dbapi.Error

    def write(self, attempts: list[Attempt], policy: RetryPolicy) -> None:
        """Write the outcomes of a group in one transaction; bounce 5xx addresses."""
        if not attempts:
            return
        updates, bounces = _outcome_rows(attempts, policy)
        with writer_lock(self.engine):
            cursor = self.conn.cursor()
            try:
                if self.sqlite:  # pysqlite's own transaction handling is off (digest.db)
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.executemany(self.record.sql, self.record.parameters(updates))
                if bounces:
                    cursor.executemany(self.bounce.sql, self.bounce.parameters(bounces))
                    cursor.executemany(self.history.sql, self.history.parameters(
                        _bounce_events(attempts)))
                self.conn.commit()
            except self.dbapi_error as exc:  # raised as SQLAlchemy would, like any query
                self.conn.rollback()
                raise sa.exc.DBAPIError.instance(self.record.sql, None, exc, self.dbapi_error,
                                                 dialect=self.engine.dialect) from exc
            except BaseException:
                self.conn.rollback()
                raise
            finally:
                cursor.close()

    def close(self) -> None:
        """Give the connection back to the pool."""
        self.conn.close()


def heartbeat(engine: Engine, run_id: str, now: datetime) -> None:
    """Refresh this run's claims so no other sender takes them while it lives."""
    with writer_lock(engine), session_scope(engine, write=True) as session:
        session.execute(sa.update(D).where(D.c.claimed_by == run_id,
                                           D.c.state == DeliveryState.SENDING.value)
                        .values(claimed_at=now))


def release(engine: Engine, rows: list[Claimed]) -> None:
    """Give back claimed rows that were never attempted (a clean stop)."""
    if not rows:
        return
    with writer_lock(engine), session_scope(engine, write=True) as session:
        session.execute(sa.update(D).where(
            D.c.id.in_([r.delivery_id for r in rows]), D.c.state == DeliveryState.SENDING.value
        ).values(state=DeliveryState.PENDING.value, claimed_by=None, claimed_at=None,
                 attempts=D.c.attempts - 1))


@dataclass
class OpenWork:
    """What is left to do for an issue, as a resume would see it."""

    pending: int = 0
    retry_due: int = 0
    retry_later: int = 0
    next_retry_at: datetime | None = None
    in_flight: int = 0  # claimed by a live sender
    stale: int = 0  # claimed by a sender that stopped refreshing: will be sent again

    @property
    def total(self) -> int:
        """Rows not yet finished."""
        return self.pending + self.retry_due + self.retry_later + self.in_flight + self.stale


def open_work(session: Session, issue_id: int, now: datetime, lease: timedelta,
              run_id: str | None = None) -> OpenWork:
    """Count unfinished rows by what a sender would do with them now (one aggregate query);
    a run passing its `run_id` leaves its own claims out of `in_flight`."""
    state = D.c.state

    def count(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0)), 0)

    retry = state == DeliveryState.RETRY.value
    claimed = state == DeliveryState.SENDING.value
    others = claimed if run_id is None else sa.and_(claimed, D.c.claimed_by != run_id)
    later = sa.and_(retry, D.c.next_attempt_at > now)
    row = session.execute(sa.select(
        count(state == DeliveryState.PENDING.value),
        count(retry, D.c.next_attempt_at <= now),
        count(later),
        sa.func.min(sa.case((later, D.c.next_attempt_at), else_=None)).label("next_retry"),
        count(others, D.c.claimed_at >= now - lease),
        count(claimed, D.c.claimed_at < now - lease),
    ).where(D.c.issue_id == issue_id, state.in_([s.value for s in OPEN_STATES]))).one()
    pending, retry_due, retry_later, next_retry, in_flight, stale = row
    if isinstance(next_retry, str):  # SQLite returns an aggregate of datetimes as text
        next_retry = datetime.fromisoformat(next_retry)
    if next_retry is not None and next_retry.tzinfo is None:
        next_retry = next_retry.replace(tzinfo=UTC)
    return OpenWork(int(pending), int(retry_due), int(retry_later), next_retry,
                    int(in_flight), int(stale))


@dataclass
class Status:
    """Counts by state and language, and the latest errors."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)  # state -> language -> n
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # email, state, error


def status(session: Session, issue_id: int, error_limit: int = 10) -> Status:
    """Per-state, per-language counts (the subscriber's language until a row is sent)."""
    out = Status()
    lang = sa.func.coalesce(D.c.language, S.c.language)
    for state, language, n in session.execute(
            sa.select(D.c.state, lang, sa.func.count()).join(S, S.c.id == D.c.subscriber_id)
            .where(D.c.issue_id == issue_id).group_by(D.c.state, lang)):
        key = getattr(state, "value", state)
        out.counts.setdefault(key, Counter())[getattr(language, "value", language)] += n
    for email, state, err in session.execute(
            sa.select(S.c.email, D.c.state, D.c.last_error).join(S, S.c.id == D.c.subscriber_id)
            .where(D.c.issue_id == issue_id, D.c.last_error.is_not(None),
                   D.c.state.in_([DeliveryState.RETRY.value, DeliveryState.FAILED.value]))
            .order_by(D.c.id.desc()).limit(error_limit)):
        out.errors.append((email, getattr(state, "value", state), err))
    return out


def audience(session: Session) -> Counter[str]:
    """Active subscribers by language: who a send would reach."""
    return Counter({getattr(lang, "value", lang): n for lang, n in session.execute(
        sa.select(S.c.language, sa.func.count()).where(S.c.state == SubscriberState.ACTIVE.value)
        .group_by(S.c.language))})
