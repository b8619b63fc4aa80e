"""One-click unsubscribes through `OneClick`: stored as `self_service.unsubscribe` stores them,
grouped into shared transactions on SQLite only, and all or nothing per transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.audience import self_service
from digest.audience.one_click import OneClick
from digest.delivery import outbox
from digest.settings import Settings
from digest.store.db import make_engine, upgrade, writer_lock
from digest.store.models import (
    ActionReason,
    Language,
    Subscriber,
    SubscriberEvent,
    SubscriberState,
)
from tests.factories import add_sample_content, add_subscribers, approved_issue


def _people(session: Session, n: int) -> list[int]:
    subs = [Subscriber(email=f"p{i}@example.org", name=f"P {i}", language=Language.CY,
                       state=SubscriberState.ACTIVE) for i in range(n)]
    session.add_all(subs)
    session.commit()
    return [s.id or 0 for s in subs]


def _states(engine: Engine, ids: list[int]) -> list[SubscriberState]:
    with Session(engine) as s:
        return [s.get(Subscriber, i).state for i in ids]  # type: ignore[union-attr]


def test_an_unsubscribe_is_stored_with_its_history(engine: Engine, session: Session) -> None:
    [sid] = _people(session, 1)
    left = OneClick(engine).unsubscribe(sid, ActionReason.ONE_CLICK)
    assert (left.email, left.language) == ("p0@example.org", Language.CY)
    assert _states(engine, [sid]) == [SubscriberState.UNSUBSCRIBED]
    with Session(engine) as s:
        events = s.exec(select(SubscriberEvent).where(SubscriberEvent.subscriber_id == sid)).all()
    assert [(e.reason, e.actor) for e in events] == [(ActionReason.ONE_CLICK, "subscriber")]
    OneClick(engine).unsubscribe(sid, ActionReason.ONE_CLICK)  # again: no second event
    with Session(engine) as s:
        again = s.exec(select(SubscriberEvent).where(SubscriberEvent.subscriber_id == sid)).all()
    assert len(again) == 1


def test_an_unknown_subscriber_is_a_lookup_error(engine: Engine) -> None:
    with pytest.raises(LookupError):
        OneClick(engine).unsubscribe(424242, ActionReason.ONE_CLICK)


def _held_burst(engine: Engine, clicks: OneClick, ids: list[int]) -> list[BaseException | None]:
    """Unsubscribe `ids` from one thread each, this process's SQLite write lock held by the
    test: the first request takes its group (itself) and waits for the lock, the others queue
    behind it; then the lock is let go. The error each thread met."""
    errors: list[BaseException | None] = [None] * len(ids)
    commits = clicks._commits
    assert commits is not None  # SQLite's queue

    def one(k: int) -> None:
        try:
            clicks.unsubscribe(ids[k], ActionReason.ONE_CLICK)
        except BaseException as exc:
            errors[k] = exc

    def until(check: Callable[[], bool]) -> None:
        end = time.monotonic() + 10
        while not check():
            assert time.monotonic() < end, "the requests did not queue"
            time.sleep(0.005)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(ids))]
    with writer_lock(engine):
        threads[0].start()
        until(lambda: commits._busy and not commits._waiting)  # its group taken: itself
        for t in threads[1:]:
            t.start()
        until(lambda: len(commits._sleepers) == len(ids) - 1)
    for t in threads:
        t.join(10)
    return errors


@pytest.fixture
def sqlite_engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_database: str) -> Iterator[Engine]:
    engine = make_engine(pg_database)
    yield engine
    engine.dispose()


def test_on_sqlite_the_requests_waiting_together_share_a_transaction(
        sqlite_engine: Engine) -> None:
    with Session(sqlite_engine, expire_on_commit=False) as session:
        ids = _people(session, 20)
    commits: list[int] = []
    sa.event.listen(sqlite_engine, "commit", lambda *_: commits.append(1))
    errors = _held_burst(sqlite_engine, OneClick(sqlite_engine), ids)
    assert errors == [None] * 20
    assert _states(sqlite_engine, ids) == [SubscriberState.UNSUBSCRIBED] * 20
    assert len(commits) == 2  # the first alone, then the 19 that queued behind it


@pytest.mark.postgres
def test_on_postgresql_each_request_is_its_own_transaction(pg_engine: Engine) -> None:
    with Session(pg_engine, expire_on_commit=False) as session:
        session.execute(sa.text("TRUNCATE subscriber RESTART IDENTITY CASCADE"))
        session.commit()
        ids = _people(session, 8)
    commits: list[int] = []
    sa.event.listen(pg_engine, "commit", lambda *_: commits.append(1))
    clicks = OneClick(pg_engine)
    threads = [threading.Thread(target=clicks.unsubscribe, args=(i, ActionReason.ONE_CLICK))
               for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert _states(pg_engine, ids) == [SubscriberState.UNSUBSCRIBED] * 8
    assert len(commits) == 8


@pytest.mark.postgres
def test_on_postgresql_a_request_waiting_on_a_lock_holds_up_no_other(pg_engine: Engine) -> None:
    with Session(pg_engine, expire_on_commit=False) as session:
        session.execute(sa.text("TRUNCATE subscriber RESTART IDENTITY CASCADE"))
        session.commit()
        first, second = _people(session, 2)
    clicks = OneClick(pg_engine)
    with pg_engine.connect() as other:  # holds the first subscriber's row
        other.execute(sa.text("SELECT id FROM subscriber WHERE id = :i FOR UPDATE"),
                      {"i": first})
        blocked = threading.Thread(target=clicks.unsubscribe,
                                   args=(first, ActionReason.ONE_CLICK))
        blocked.start()
        time.sleep(0.2)  # it is waiting on the lock by now
        free = threading.Thread(target=clicks.unsubscribe, args=(second, ActionReason.ONE_CLICK))
        free.start()
        free.join(5)
        assert not free.is_alive(), "queued behind the request that waits on a lock"
        assert blocked.is_alive()
        other.rollback()
    blocked.join(10)
    free.join(10)
    assert _states(pg_engine, [first, second]) == [SubscriberState.UNSUBSCRIBED] * 2


@pytest.mark.postgres
def test_on_postgresql_two_unsubscribes_of_one_person_side_by_side_write_one_event(
        pg_engine: Engine) -> None:
    with Session(pg_engine, expire_on_commit=False) as session:
        session.execute(sa.text("TRUNCATE subscriber RESTART IDENTITY CASCADE"))
        session.commit()
        [sid] = _people(session, 1)
    clicks = OneClick(pg_engine)
    with Session(pg_engine) as first:  # the first unsubscribe, not yet committed
        self_service.unsubscribe(first, sid, reason=ActionReason.LINK)
        second = threading.Thread(target=clicks.unsubscribe, args=(sid, ActionReason.ONE_CLICK))
        second.start()
        time.sleep(0.2)  # it waits on the first one's lock on the subscriber's row
        assert second.is_alive()
        first.commit()
    second.join(10)
    assert not second.is_alive()
    with Session(pg_engine) as s:
        events = s.exec(select(SubscriberEvent).where(SubscriberEvent.subscriber_id == sid)).all()
    assert [e.reason for e in events] == [ActionReason.LINK]  # the second changed nothing


@pytest.mark.postgres
def test_on_postgresql_the_outbox_rows_are_locked_before_the_subscriber(
        pg_engine: Engine, settings: Settings) -> None:
    """The order a send's bounce locks them in: a lock order the other way round could
    deadlock with it."""
    with Session(pg_engine, expire_on_commit=False) as session:
        session.execute(sa.text("TRUNCATE subscriber, issue, review, seminar, news "
                                "RESTART IDENTITY CASCADE"))
        session.commit()
        add_sample_content(session)
        [sub, *_] = add_subscribers(session, per_language=1)
        issue = approved_issue(session, settings)
        outbox.create_deliveries(session, issue.id or 0)
        session.commit()
    clicks = OneClick(pg_engine)
    with pg_engine.connect() as other:  # holds the subscriber's outbox row
        other.execute(sa.text("SELECT id FROM delivery WHERE subscriber_id = :s FOR UPDATE"),
                      {"s": sub.id})
        waiting = threading.Thread(target=clicks.unsubscribe,
                                   args=(sub.id, ActionReason.ONE_CLICK))
        waiting.start()
        time.sleep(0.3)  # it is waiting on the outbox row by now
        assert waiting.is_alive()
        # ...and holds no lock on the subscriber meanwhile.
        other.execute(sa.text("SELECT id FROM subscriber WHERE id = :s FOR UPDATE NOWAIT"),
                      {"s": sub.id})
        other.rollback()
    waiting.join(10)
    assert not waiting.is_alive()
    assert _states(pg_engine, [sub.id or 0]) == [SubscriberState.UNSUBSCRIBED]


def test_a_failed_transaction_stores_none_of_its_group_and_each_request_says_so(
        sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with Session(sqlite_engine, expire_on_commit=False) as session:
        ids = _people(session, 5)
    real = self_service.unsubscribe_many

    def failing(s: Session, subscriber_ids: list[int], reason: ActionReason,
                **kw: object) -> dict[int, self_service.Left]:
        done = real(s, subscriber_ids, reason, **kw)  # type: ignore[arg-type]
        if ids[-1] in subscriber_ids:  # after its writes: the transaction must undo them
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        return done

    monkeypatch.setattr(self_service, "unsubscribe_many", failing)
    errors = _held_burst(sqlite_engine, OneClick(sqlite_engine), ids)
    assert errors[0] is None  # written alone, before the others queued
    assert all(isinstance(e, sa.exc.OperationalError) for e in errors[1:])
    assert _states(sqlite_engine, ids) == ([SubscriberState.UNSUBSCRIBED]
                                           + [SubscriberState.ACTIVE] * 4)
