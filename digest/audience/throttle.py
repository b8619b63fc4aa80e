"""Throttles kept in the database: sliding windows of counted attempts (login failures and
sign-ups), so that they hold across restarts and across several server processes.

Call these inside a write transaction (`session_scope(engine, write=True)`): on SQLite that
transaction holds the one write lock from its BEGIN, and on PostgreSQL `take` first takes a
transaction-scoped advisory lock per key, so that two processes never both count the same
last free slot. Keys are stored as SHA-256 digests, not as the names or addresses themselves.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from digest.store.models import ThrottleHit, ThrottleScope, core_table

HITS = core_table(ThrottleHit)


@dataclass(frozen=True)
class Limit:
    """At most `max_hits` counted attempts per key in any `window`."""

    scope: ThrottleScope
    max_hits: int
    window: timedelta


def digest_key(value: str) -> str:
    """The stored form of a key (hex SHA-256): equal values give equal keys."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _lock(session: Session, pairs: Iterable[tuple[Limit, str]]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the write transaction already excludes every other writer
    ids = sorted({int.from_bytes(hashlib.sha256(f"{limit.scope}|{key}".encode()).digest()[:8],
                                 "big", signed=True) for limit, key in pairs})
    for lock_id in ids:  # one order everywhere, so two requests cannot deadlock
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


def wait_seconds(session: Session, limit: Limit, key: str, now: datetime) -> int | None:
    """Seconds until `key` is under its limit again, or None if it is under it now."""
    times: list[datetime] = session.execute(
        sa.select(HITS.c.at).where(HITS.c.scope == limit.scope.value, HITS.c.key == key,
                                   HITS.c.at > now - limit.window).order_by(HITS.c.at)
    ).scalars().all()  # type: ignore[assignment]
    if len(times) < limit.max_hits:
        return None
    # Free again when the hit that puts the key at its limit leaves the window.
    freed = times[len(times) - limit.max_hits] + limit.window
    return max(1, math.ceil((freed - now).total_seconds()))


def take(session: Session, pairs: Sequence[tuple[Limit, str]], now: datetime
         ) -> tuple[int | None, list[int]]:
    """Count one attempt against every (limit, key) if all are under their limits.

    Returns (None, ids of the hits recorded), or (seconds to wait, []) when any limit is
    reached, in which case nothing is counted.
    """
    _lock(session, pairs)
    waits = [w for limit, key in pairs if (w := wait_seconds(session, limit, key, now))]
    if waits:
        return max(waits), []
    sweep(session, [limit for limit, _ in pairs], now)
    ids = [hit(session, limit.scope, key, now) for limit, key in pairs]
    return None, ids


def hit(session: Session, scope: ThrottleScope, key: str, now: datetime) -> int:
    """Record one attempt; returns its id (to `forget` it later)."""
    row = session.execute(sa.insert(HITS).values(scope=scope.value, key=key, at=now)
                          .returning(HITS.c.id)).scalar_one()
    return int(row)


def forget(session: Session, ids: Sequence[int]) -> None:
    """Take back attempts that turned out not to count (a login that succeeded)."""
    if ids:
        session.execute(sa.delete(HITS).where(HITS.c.id.in_(list(ids))))


def clear(session: Session, scope: ThrottleScope, key: str) -> None:
    """Forget every attempt of one key (an account after its editor logged in)."""
    session.execute(sa.delete(HITS).where(HITS.c.scope == scope.value, HITS.c.key == key))


def sweep(session: Session, limits: Iterable[Limit], now: datetime) -> None:
    """Delete the hits that have left their scope's window (they can never count again)."""
    for limit in {lim.scope: lim for lim in limits}.values():
        session.execute(sa.delete(HITS).where(HITS.c.scope == limit.scope.value,
                                              HITS.c.at <= now - limit.window))
