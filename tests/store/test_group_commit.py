"""The group commit shared by a send's workers and the one-click unsubscribes: every change is
written exactly once, the ones waiting during a write go together in the next group, and a
cap on the group's size holds."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from digest.store.group_commit import GroupCommit, Waiter


@dataclass(eq=False)
class Item(Waiter):
    n: int


def _wait_for(check: object, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_one_thread_writes_its_own_change_and_returns_with_it_done() -> None:
    groups: list[list[int]] = []
    commits: GroupCommit[Item] = GroupCommit(lambda g: groups.append([i.n for i in g]))
    item = commits.submit(Item(1))
    assert not item.done
    commits.settle(item)
    commits.settle(None)  # nothing to wait for
    assert item.done and groups == [[1]]


def _burst(most: int | None, threads: int) -> list[list[int]]:
    """`threads` changes submitted while a first write is held open; the groups written."""
    groups: list[list[int]] = []
    release, first_started = threading.Event(), threading.Event()

    def write(group: list[Item]) -> None:
        if not groups and not first_started.is_set():
            first_started.set()
            release.wait(10)
        groups.append([i.n for i in group])

    commits: GroupCommit[Item] = GroupCommit(write, most=most)
    first = threading.Thread(target=lambda: commits.settle(commits.submit(Item(0))))
    first.start()
    first_started.wait(10)
    workers = [threading.Thread(target=lambda n=n: commits.settle(commits.submit(Item(n))))
               for n in range(1, threads + 1)]
    for w in workers:
        w.start()
    _wait_for(lambda: len(commits._sleepers) == threads)  # all asleep behind the first write
    release.set()
    for t in [first, *workers]:
        t.join(10)
        assert not t.is_alive()
    return groups


def test_the_changes_waiting_during_a_write_go_together_in_the_next_one() -> None:
    groups = _burst(None, 12)
    assert groups[0] == [0]
    assert sorted(groups[1]) == list(range(1, 13)) and len(groups) == 2


def test_a_cap_bounds_each_group_and_every_change_is_written_once() -> None:
    groups = _burst(5, 12)
    assert all(len(g) <= 5 for g in groups)
    assert sorted(n for g in groups for n in g) == list(range(13))
    assert len(groups) == 1 + 3  # the first alone, then 12 in groups of at most 5


def test_a_cap_of_one_writes_every_change_alone() -> None:
    groups = _burst(1, 6)
    assert sorted(groups) == [[n] for n in range(7)]


def test_changes_submitted_during_the_pause_join_the_group_after_it() -> None:
    groups: list[list[int]] = []
    commits: GroupCommit[Item] = GroupCommit(lambda g: groups.append([i.n for i in g]),
                                             pause=0.5)
    commits.settle(commits.submit(Item(0)))  # the first group: the pause runs from its end
    leader = threading.Thread(target=lambda: commits.settle(commits.submit(Item(1))))
    leader.start()
    _wait_for(lambda: commits._busy)  # the next group's writer, in its pause
    late = commits.submit(Item(2))
    commits.settle(late)
    leader.join(10)
    assert groups == [[0], [1, 2]] and late.done
