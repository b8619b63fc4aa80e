"""The database-backed throttle on both databases: sliding windows, sweeping, concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.audience import throttle
from digest.audience.throttle import Limit
from digest.store.db import session_scope
from digest.store.models import ThrottleHit, ThrottleScope

T0 = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)
MINUTE = Limit(ThrottleScope.SIGNUP_ADDRESS, 3, timedelta(seconds=60))
HITS = ThrottleHit.__table__  # type: ignore[attr-defined]


def take(engine: Engine, pairs: list[tuple[Limit, str]], at: datetime) -> int | None:
    with session_scope(engine, write=True) as session:
        wait, _ = throttle.take(session, pairs, at)
    return wait


def rows(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r.scope, r.key) for r in conn.execute(sa.select(HITS.c.scope, HITS.c.key))]


def test_a_key_gets_its_limit_per_sliding_window(engine: Engine) -> None:
    a = throttle.digest_key("a@example.org")
    waits = [take(engine, [(MINUTE, a)], T0 + timedelta(seconds=s)) for s in (0, 10, 20, 30)]
    assert waits == [None, None, None, 30]  # the first hit leaves the window at T0+60
    assert take(engine, [(MINUTE, throttle.digest_key("b@example.org"))], T0) is None
    assert take(engine, [(MINUTE, a)], T0 + timedelta(seconds=59)) == 1
    assert take(engine, [(MINUTE, a)], T0 + timedelta(seconds=60)) is None  # one slot free
    assert take(engine, [(MINUTE, a)], T0 + timedelta(seconds=61)) == 9  # the T0+10 hit next


def test_a_refusal_counts_nothing_against_the_other_keys(engine: Engine) -> None:
    other = Limit(ThrottleScope.SIGNUP_TOTAL, 100, timedelta(hours=1))
    for _ in range(3):
        assert take(engine, [(MINUTE, "full"), (other, "all")], T0) is None
    assert take(engine, [(MINUTE, "full"), (other, "all")], T0) == 60
    assert sorted(rows(engine)).count(("signup_total", "all")) == 3


def test_keys_are_stored_as_digests_and_old_hits_are_swept(engine: Engine) -> None:
    assert take(engine, [(MINUTE, throttle.digest_key("someone@example.org"))], T0) is None
    assert all("@" not in key and len(key) == 64 for _, key in rows(engine))
    for i in range(20):
        take(engine, [(MINUTE, throttle.digest_key(f"user{i}@example.org"))], T0)
    assert len(rows(engine)) == 21
    take(engine, [(MINUTE, "late")], T0 + timedelta(minutes=2))  # the 21 have left the window
    assert rows(engine) == [("signup_address", "late")]


def test_forget_and_clear_take_hits_back(engine: Engine) -> None:
    login = Limit(ThrottleScope.LOGIN_ACCOUNT, 2, timedelta(minutes=15))
    with session_scope(engine, write=True) as session:
        _, ids = throttle.take(session, [(login, "sian")], T0)
        throttle.forget(session, ids)
        throttle.take(session, [(login, "sian")], T0)
        throttle.take(session, [(login, "sian")], T0)
        assert throttle.wait_seconds(session, login, "sian", T0) == 900
        throttle.clear(session, ThrottleScope.LOGIN_ACCOUNT, "sian")
        assert throttle.wait_seconds(session, login, "sian", T0) is None


def test_parallel_requests_never_pass_the_limit(engine: Engine) -> None:
    """Twelve requests at once for three slots, each in its own connection."""
    barrier = threading.Barrier(12)
    allowed: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        wait = take(engine, [(MINUTE, "contested")], T0)
        with lock:
            allowed.append(wait is None)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(allowed) == [False] * 9 + [True] * 3
