"""The outbox in the database: create rows, claim them, record outcomes, report status.

Invariants:
- one row per (issue, subscriber), enforced by a unique constraint; creation is one
  INSERT ... SELECT that skips existing rows, so running it twice adds nothing;
- a claim (state `sending`, `claimed_by`, `claimed_at`) is taken in a write transaction
  (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE), so concurrent senders
  never claim the same row; the holder refreshes `claimed_at` while it lives, and a claim
  older than the lease belongs to a dead run and is claimed again;
- only the run holding a claim changes its row (an outcome, a release): a run that lost its
  claims to another sender cannot undo or overwrite that sender's work;
- a row becomes `sent` only once the relay has accepted its message.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.delivery.transports.base import SendResult
from digest.store.db import session_scope, writer_lock
from digest.store.models import (
    Delivery,
    DeliveryState,
    Issue,
    Language,
    Subscriber,
    SubscriberState,
    UTCDateTime,
    core_table,
)

D = core_table(Delivery)
S = core_table(Subscriber)
ISSUE = core_table(Issue)
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
    run_id: str  # the run holding the claim


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
    """Add a pending row for every active subscriber not yet in the outbox; returns rows added.

    Two creations for one issue take turns, so the second finds the first one's rows and a
    plain INSERT suffices (the unique key on issue and subscriber would refuse a duplicate all
    the same): on SQLite the caller's write transaction holds the database's one write lock,
    on PostgreSQL the issue row is locked first. ON CONFLICT made each row a speculative
    insertion there (docs/performance.md, the outbox bullet).
    """
    if session.get_bind().dialect.name == "postgresql":
        # NO KEY UPDATE, so that rows merely referring to the issue (its history) are written
        # meanwhile; a second creation waits here for this one's commit.
        session.execute(sa.select(ISSUE.c.id).where(ISSUE.c.id == issue_id)
                        .with_for_update(key_share=True))  # FOR NO KEY UPDATE
    new = [S.c.state == SubscriberState.ACTIVE.value]
    # Those already in this issue's outbox are left out only if it has rows (a resumed send).
    # Its first creation has no such test: planned while the table is empty and analysed,
    # PostgreSQL checks it with a scan of `delivery` per subscriber, which this very
    # statement keeps growing, and 200,000 subscribers took over ten minutes
    # (tests/delivery/test_outbox_plan.py).
    if session.execute(sa.select(sa.exists().where(D.c.issue_id == issue_id))).scalar():
        new.append(~sa.exists(sa.select(D.c.id).where(D.c.issue_id == issue_id,
                                                      D.c.subscriber_id == S.c.id)))
    select_new = sa.select(
        sa.literal(issue_id), S.c.id, sa.literal(DeliveryState.PENDING.value), sa.literal(0)
    ).where(*new)
    insert = sa.insert(D).from_select(["issue_id", "subscriber_id", "state", "attempts"],
                                      select_new)
    result = session.execute(insert.execution_options(preserve_rowcount=True))
    return int(result.rowcount)  # type: ignore[attr-defined]


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
    return [Claimed(did, sid, email, name, language, attempts + 1, first or now, run_id)
            for did, _, sid, email, name, language, attempts, first in taken]


# Skip one subscriber's open rows (parameters `sid` and `reason`); no expanding parameter,
# so that the outcome writer can run it compiled once.
STOP_ROWS = sa.update(D).where(
    D.c.subscriber_id == sa.bindparam("sid"),
    D.c.state.in_([sa.literal_column(f"'{s.value}'") for s in OPEN_STATES])
).values(state=sa.literal_column(f"'{DeliveryState.SKIPPED.value}'"),
         last_error=sa.bindparam("reason"))


def stop_mail(session: Session, subscriber_id: int, reason: str) -> int:
    """Skip every open row of a subscriber who left (caller commits); returns rows skipped.

    Rows a sender has claimed are skipped too (their `claimed_by` is kept): the sender reads
    the state of its next rows when it commits an outcome, before their messages go out, so
    once this commits at most the message already on the wire per connection can still be
    accepted (docs/delivery.md).
    """
    result = session.execute(STOP_ROWS, {"sid": subscriber_id, "reason": reason})
    return int(getattr(result, "rowcount", 0) or 0)


def heartbeat(engine: Engine, run_id: str, now: datetime) -> None:
    """Refresh this run's claims so no other sender takes them while it lives."""
    with writer_lock(engine), session_scope(engine, write=True) as session:
        session.execute(sa.update(D).where(D.c.claimed_by == run_id,
                                           D.c.state == DeliveryState.SENDING.value)
                        .values(claimed_at=now))


def release(engine: Engine, rows: list[Claimed]) -> None:
    """Give back claimed rows that were never attempted (a clean stop), those still held."""
    if not rows:
        return
    by_run: dict[str, list[int]] = {}
    for r in rows:
        by_run.setdefault(r.run_id, []).append(r.delivery_id)
    with writer_lock(engine), session_scope(engine, write=True) as session:
        for run_id, ids in by_run.items():
            session.execute(sa.update(D).where(
                D.c.id.in_(ids), D.c.state == DeliveryState.SENDING.value,
                D.c.claimed_by == run_id,
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
