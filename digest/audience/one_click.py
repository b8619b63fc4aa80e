"""One-click unsubscribes, committed together when they arrive together.

A mail provider may POST thousands of RFC 8058 unsubscribes while a send runs. Each request
still returns only once its change is committed (a 200 means stored), but on SQLite the
requests waiting at the same moment share one transaction (`GroupCommit`), and a group
starts no sooner than `PAUSE` after the previous one ended. Between the groups the database's
one write lock is free for a send in another process, whose commits would otherwise sleep
in SQLite's busy handler while request after request took the lock; the requests that
arrive during the pause join the next group (figures in docs/performance.md).

On PostgreSQL each request is its own transaction, as before, and they run side by side: rows
lock one at a time there, and a group locking many subscribers' outbox rows in one order could
deadlock with a send's group locking them in another.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from digest.audience import self_service
from digest.store.db import session_scope, writer_lock
from digest.store.group_commit import GroupCommit, Waiter
from digest.store.models import ActionReason

GROUP_MOST = 100  # unsubscribes in one SQLite transaction at the most
PAUSE = 0.010  # seconds from the end of one SQLite group to the start of the next


@dataclass(eq=False)
class Request(Waiter):
    """One unsubscribe, and what became of it once its group was written."""

    subscriber_id: int
    reason: ActionReason
    subscriber: self_service.Left | None = None  # as committed; None: no such subscriber
    error: Exception | None = None  # the group's transaction failed: none of it was stored


class OneClick:
    """Unsubscribes from this process's request threads, written in groups (see above)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # PostgreSQL: no queue, so its requests' transactions run side by side.
        self._commits: GroupCommit[Request] | None = GroupCommit(
            self._write, most=GROUP_MOST, pause=PAUSE) if engine.dialect.name == "sqlite" else None

    def unsubscribe(self, subscriber_id: int, reason: ActionReason) -> self_service.Left:
        """Stop all mail to a subscriber and return once it is committed (as
        `self_service.unsubscribe`); LookupError if there is no such subscriber, and the
        database's error if the transaction failed."""
        request = Request(subscriber_id, reason)
        if self._commits is None:
            self._write([request])
        else:
            self._commits.settle(self._commits.submit(request))
        if request.error is not None:
            raise request.error
        if request.subscriber is None:
            raise LookupError(subscriber_id)
        return request.subscriber

    def _write(self, group: list[Request]) -> None:
        """Write a group in one transaction; never raises (each request keeps the error)."""
        try:
            # writer_lock: this process's other writers queue here, not in the busy handler.
            with writer_lock(self.engine), session_scope(self.engine, write=True) as session:
                for reason in {r.reason for r in group}:
                    alike = [r for r in group if r.reason is reason]
                    left = self_service.unsubscribe_many(
                        session, [r.subscriber_id for r in alike], reason)
                    for request in alike:
                        request.subscriber = left.get(request.subscriber_id)
        except Exception as exc:  # the whole group is unstored: each of its requests says so
            for request in group:
                request.subscriber, request.error = None, exc
