"""Group commit: one transaction writes every change waiting, for threads that each must
see theirs committed before they go on (a send's workers, the web's one-click unsubscribes).

A thread that settles its change while no group is being written writes every change
waiting at that moment, the others' included. Otherwise it sleeps on its own lock, woken
when its change is written or, if it was not in that group, to write the next group: one
wake-up per sleeper, where a shared condition would wake every thread on every commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar


@dataclass(eq=False)
class Waiter:
    """A change's place in the queue; a subclass carries the change and what its write found."""

    done: bool = field(default=False, init=False)  # committed, or given up on (a failed write)
    wake: threading.Lock | None = field(default=None, init=False)  # held while its thread sleeps


P = TypeVar("P", bound=Waiter)


class GroupCommit(Generic[P]):
    """Changes waiting to be written; the thread writing a group of them, if any."""

    def __init__(self, write: Callable[[list[P]], None], *, most: int | None = None,
                 pause: float = 0.0) -> None:
        self._write = write  # never raises; records on each of the group what became of it
        self._most = most  # changes in one group at the most (None: every one waiting)
        # Seconds from the end of one group's write to the start of the next: the changes
        # submitted meanwhile join that next group.
        self._pause, self._ended = pause, 0.0
        self._mutex = threading.Lock()
        self._waiting: list[P] = []  # submitted, in no group yet
        self._sleepers: list[P] = []
        self._busy = False

    def submit(self, pending: P) -> P:
        """Queue a change for the next group; returns at once."""
        with self._mutex:
            self._waiting.append(pending)
        return pending

    def settle(self, pending: P | None) -> None:
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
                    self._busy = True
            if pending.wake is not None:
                pending.wake.acquire()  # released by the writer of a group
                pending.wake = None
                continue
            if (wait := self._ended + self._pause - time.monotonic()) > 0:
                time.sleep(wait)
            with self._mutex:
                group = self._take(pending)
            try:
                self._write(group)
            finally:
                self._ended = time.monotonic()
                self._finish(group)
            return

    def _take(self, pending: P) -> list[P]:
        """The next group, `pending` in it; called holding the mutex, leaves the rest waiting."""
        if self._most is None or len(self._waiting) <= self._most:
            group, self._waiting = self._waiting, []
            return group
        rest = [p for p in self._waiting if p is not pending]
        group, self._waiting = [pending, *rest[:self._most - 1]], rest[self._most - 1:]
        return group

    def _finish(self, group: list[P]) -> None:
        with self._mutex:
            self._busy = False
            for p in group:
                p.done = True
            asleep, self._sleepers, leader_woken = self._sleepers, [], False
            for p in asleep:
                assert p.wake is not None
                if p.done:  # its change is written
                    p.wake.release()
                elif not leader_woken:  # it writes the next group
                    p.wake.release()
                    leader_woken = True
                else:
                    self._sleepers.append(p)
