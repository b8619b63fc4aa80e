"""The sign-up rate limiter (the sign-up flow itself is tested over HTTP in test_web.py)."""

from __future__ import annotations

from digest.audience.self_service import SignupLimiter


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_per_key_in_a_sliding_window() -> None:
    clock = Clock()
    limiter = SignupLimiter(3, 60, clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another key has its own allowance
    clock.now += 59
    assert not limiter.allow("a")  # the first attempts are still inside the window
    clock.now += 1
    assert limiter.allow("a")  # they have left it


def test_keys_without_recent_attempts_are_forgotten() -> None:
    clock = Clock()
    limiter = SignupLimiter(3, 60, clock)
    for i in range(1000):  # one attempt each from many addresses
        assert limiter.allow(f"user{i}@example.org")
    assert len(limiter) == 1000
    clock.now += 30
    assert limiter.allow("recent@example.org")
    clock.now += 30  # the thousand are now a window old; "recent" is not
    assert limiter.allow("late@example.org")
    assert len(limiter) == 2
    assert [limiter.allow("recent@example.org") for _ in range(3)] == [True, True, False]


def test_a_zero_limit_refuses_everything_and_sweeps_cleanly() -> None:
    clock = Clock()
    limiter = SignupLimiter(0, 60, clock)
    assert not limiter.allow("a")
    clock.now += 61
    assert not limiter.allow("b")
    assert len(limiter) == 1  # "a" (never allowed, nothing recorded) was swept
