"""The pure planner at its edges: cutoffs, windows, DST, featuring once, the minimum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from digest.issue.planner import Candidate, PlanRules, one_month_before, period_of, plan_issue
from digest.store.models import ItemKind

LONDON = ZoneInfo("Europe/London")
RULES = PlanRules(tz=LONDON)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def review(i: int, published: datetime) -> Candidate:
    return Candidate(ItemKind.REVIEW, i, published)


def seminar(i: int, starts: datetime, published: datetime | None = None) -> Candidate:
    return Candidate(ItemKind.SEMINAR, i, published or utc(2026, 1, 1), starts)


def test_previous_cutoff_is_exclusive_and_now_is_inclusive() -> None:
    prev = utc(2026, 8, 3, 8)
    now = utc(2026, 9, 7, 8)
    items = [review(1, prev), review(2, prev + timedelta(microseconds=1)), review(3, now),
             review(4, now + timedelta(seconds=1))]
    plan = plan_issue(items, previous_cutoff=prev, featured=set(), now=now, rules=RULES)
    assert plan.reviews == [2, 3]
    assert plan.since_at == prev and plan.cutoff_at == now


def test_first_issue_looks_back_one_calendar_month_in_local_time() -> None:
    # 6 April 2026 09:00 BST (08:00 UTC); one month earlier is 6 March 09:00 GMT (09:00 UTC).
    now = datetime(2026, 4, 6, 9, tzinfo=LONDON)
    since = one_month_before(now, LONDON)
    assert since == utc(2026, 3, 6, 9)
    items = [review(1, utc(2026, 3, 6, 8, 30)), review(2, utc(2026, 3, 6, 9, 30))]
    plan = plan_issue(items, previous_cutoff=None, featured=set(), now=now, rules=RULES)
    assert plan.reviews == [2]


def test_one_month_before_clamps_the_day() -> None:
    assert one_month_before(datetime(2026, 3, 31, 9, tzinfo=LONDON), LONDON) == utc(2026, 2, 28, 9)
    assert one_month_before(datetime(2026, 1, 15, 9, tzinfo=LONDON), LONDON) == utc(2025, 12, 15, 9)


def test_seminar_window_is_in_wall_clock_time_across_the_spring_dst_change() -> None:
    # 2 March 2026 09:00 GMT + 8 weeks = 27 April 2026 09:00 BST = 08:00 UTC.
    now = datetime(2026, 3, 2, 9, tzinfo=LONDON)
    items = [seminar(1, utc(2026, 4, 27, 8)), seminar(2, utc(2026, 4, 27, 8, 30))]
    plan = plan_issue(items, previous_cutoff=None, featured=set(), now=now, rules=RULES)
    assert plan.seminars == [1]


def test_seminar_window_across_the_autumn_dst_change() -> None:
    # 7 Sept 2026 09:00 BST + 8 weeks = 2 Nov 2026 09:00 GMT = 09:00 UTC.
    now = datetime(2026, 9, 7, 9, tzinfo=LONDON)
    items = [seminar(1, utc(2026, 11, 2, 9)), seminar(2, utc(2026, 11, 2, 9, 1))]
    plan = plan_issue(items, previous_cutoff=None, featured=set(), now=now, rules=RULES)
    assert plan.seminars == [1]


def test_past_and_unannounced_seminars_are_left_out() -> None:
    now = utc(2026, 9, 7, 8)
    items = [
        seminar(1, now),  # starting this very moment: already under way
        seminar(2, now - timedelta(days=1)),
        seminar(3, now + timedelta(days=7), published=now + timedelta(days=1)),
        seminar(4, now + timedelta(days=8)),
        seminar(5, now + timedelta(days=2)),
    ]
    plan = plan_issue(items, previous_cutoff=None, featured=set(), now=now, rules=RULES)
    assert plan.seminars == [5, 4]  # ordered by start


def test_a_review_is_featured_as_new_once() -> None:
    now = utc(2026, 9, 7, 8)
    items = [review(1, utc(2026, 9, 1)), review(2, utc(2026, 9, 2))]
    plan = plan_issue(items, previous_cutoff=None, featured={(ItemKind.REVIEW, 1)}, now=now,
                      rules=RULES)
    assert plan.reviews == [2]


def test_nothing_new_is_not_worth_sending_and_the_minimum_is_configurable() -> None:
    now = utc(2026, 9, 7, 8)
    featured_seminar = seminar(9, now + timedelta(days=3))
    plan = plan_issue([featured_seminar], previous_cutoff=None,
                      featured={(ItemKind.SEMINAR, 9)}, now=now, rules=RULES)
    assert plan.seminars == [9]  # still coming up, still shown...
    assert plan.new_count == 0 and not plan.worth_sending  # ...but not a reason to send
    two = [review(1, utc(2026, 9, 1)), review(2, utc(2026, 9, 2))]
    strict = PlanRules(tz=LONDON, min_new=3)
    assert not plan_issue(two, previous_cutoff=None, featured=set(), now=now,
                          rules=strict).worth_sending
    assert plan_issue(two, previous_cutoff=None, featured=set(), now=now,
                      rules=RULES).worth_sending


@pytest.mark.parametrize(("moment", "period"), [
    (utc(2026, 9, 30, 23, 30), "2026-10"),  # 00:30 BST on 1 October
    (utc(2026, 10, 31, 23, 30), "2026-10"),  # GMT again after 25 October
    (utc(2026, 3, 31, 23, 30), "2026-04"),  # 00:30 BST on 1 April
])
def test_period_is_the_local_month(moment: datetime, period: str) -> None:
    assert period_of(moment, LONDON) == period


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        plan_issue([], previous_cutoff=None, featured=set(), now=datetime(2026, 9, 7),
                   rules=RULES)


def test_plan_is_deterministic_whatever_the_input_order() -> None:
    now = utc(2026, 9, 7, 8)
    items = [review(i, utc(2026, 9, 1) + timedelta(hours=i % 3)) for i in range(10)]
    a = plan_issue(items, previous_cutoff=None, featured=set(), now=now, rules=RULES)
    b = plan_issue(list(reversed(items)), previous_cutoff=None, featured=set(), now=now,
                   rules=RULES)
    assert a == b
    assert a.reviews == [0, 3, 6, 9, 1, 4, 7, 2, 5, 8]


def test_one_month_before_ends_at_the_calendars_edge() -> None:
    """Year 1's January has no month before it: an error at once (it looped for ever), which
    the edges never reach (digest.dates keeps every date in 1900-2199)."""
    with pytest.raises(ValueError):
        one_month_before(datetime(1, 1, 10, tzinfo=UTC), ZoneInfo("UTC"))
    for day in range(1, 32):  # every day of a 31-day month lands on a real day
        back = one_month_before(datetime(2027, 3, day, 12, tzinfo=UTC), LONDON)
        assert (back.month, back.day) == (2, min(day, 28))
