"""Group commit for a send run's workers: one transaction writes every outcome waiting.

A worker that settles its outcome while no group is being written writes every outcome
waiting at that moment, its siblings' included. Otherwise it sleeps on its own lock, woken
when its outcome is written or, if it was not in that group, to write the next group: one
wake-up per sleeper, where a shared condition would wake every worker on every commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from digest.delivery.outbox import Attempt


@dataclass(eq=False)
class Pending:
    """An outcome to write (None: only a look at `watch`), and what the write found."""

    attempt: Attempt | None
    watch: list[int]  # claimed rows whose messages go next: still ours?
    gone: set[int] = field(default_factory=set)  # of `watch`, no longer ours (set when done)
    done: bool = False  # committed, or given up on when the database failed
    wake: threading.Lock | None = None  # held while its worker sleeps in settle()


class GroupCommit:
    """Outcomes waiting to be written; the worker writing a group of them, if any."""

    def __init__(self, write: Callable[[list[Pending]], None]) -> None:
        self._write = write  # never raises; sets `gone` on each of the group
        self._mutex = threading.Lock()
        self._waiting: list[Pending] = []  # submitted, in no group yet
        self._sleepers: list[Pending] = []
        self._busy = False

    def submit(self, attempt: Attempt | None, watch: list[int]) -> Pending:
        """Queue an outcome (and rows to look at) for the next group; returns at once."""
        pending = Pending(attempt, watch)
        with self._mutex:
            self._waiting.append(pending)
        return pending

    def settle(self, pending: Pending | None) -> None:
        """Return once `pending` is written, writing a group if none is being written."""
        if pending is None:
            return
        while True:
            with self._mutex:
                if pending.done:
                    return
                if self._busy:
                    pending.wake = threading.Lock()
                    pending.wake.acquire()
                    self._sleepers.append(pending)
                else:  # `pending` is among the waiting: no group is under way to hold it
                    group, self._waiting, self._busy = self._waiting, [], True
            if pending.wake is not None:
                pending.wake.acquire()  # released by the writer of a group
                pending.wake = None
                continue
            try:
                self._write(group)
            finally:
                self._finish(group)
            return

    def _finish(self, group: list[Pending]) -> None:
        with self._mutex:
            self._busy = False
            for p in group:
                p.done = True
            asleep, self._sleepers, leader_woken = self._sleepers, [], False
            for p in asleep:
                assert p.wake is not None
                if p.done:  # its outcome is written
                    p.wake.release()
                elif not leader_woken:  # it writes the next group
                    p.wake.release()
                    leader_woken = True
                else:
                    self._sleepers.append(p)
