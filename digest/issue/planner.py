"""Plan stage: a pure function from (items, previous issue, now) to an issue plan.

Rules:
- the period is the calendar month of `now` in the editorial time zone (`YYYY-MM`);
- reviews and news: published after the previous issue's cutoff (for the first issue, after
  the same moment one calendar month earlier) and at or before `now`, and never featured before;
- seminars: announced at or before `now` and starting after `now` and at or before `now` plus
  the window (in local wall-clock time, so DST changes do not shift the edge by an hour);
- fewer than `min_new` new items (reviews, news and seminars never featured) gives no issue.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from digest.store.models import ItemKind


@dataclass(frozen=True)
class Candidate:
    """An item as the planner sees it."""

    kind: ItemKind
    id: int
    published_at: datetime
    starts_at: datetime | None = None  # seminars only


@dataclass(frozen=True)
class PlanRules:
    """The knobs from the settings."""

    tz: ZoneInfo
    seminar_window: timedelta = timedelta(weeks=8)
    min_new: int = 1


@dataclass(frozen=True)
class IssuePlan:
    """The outcome: what an issue for `period` would carry."""

    period: str
    since_at: datetime
    cutoff_at: datetime
    reviews: list[int] = field(default_factory=list)
    seminars: list[int] = field(default_factory=list)
    news: list[int] = field(default_factory=list)
    new_count: int = 0
    worth_sending: bool = False


def period_of(moment: datetime, tz: ZoneInfo) -> str:
    """The `YYYY-MM` month that `moment` falls in, in `tz`."""
    return moment.astimezone(tz).strftime("%Y-%m")


def end_of_month(moment: datetime, tz: ZoneInfo) -> datetime:
    """The last instant (a microsecond before midnight local) of the month `moment` is in,
    in `tz`, as UTC."""
    local = moment.astimezone(tz)
    year, month = (local.year, local.month + 1) if local.month < 12 else (local.year + 1, 1)
    start = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
    return start - timedelta(microseconds=1)


def one_month_before(moment: datetime, tz: ZoneInfo) -> datetime:
    """The same local wall-clock time one calendar month earlier (day clamped), in UTC."""
    local = moment.astimezone(tz)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(UTC)


def plan_issue(
    items: Iterable[Candidate],
    *,
    previous_cutoff: datetime | None,
    featured: set[tuple[ItemKind, int]],
    now: datetime,
    rules: PlanRules,
) -> IssuePlan:
    """Select an issue's items; pure, deterministic, ordered for display."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    since = previous_cutoff if previous_cutoff is not None else one_month_before(now, rules.tz)
    local_now = now.astimezone(rules.tz)
    # Wall-clock arithmetic on an aware local datetime, then normalise the offset via UTC.
    window_end = (local_now.replace(tzinfo=None) + rules.seminar_window).replace(
        tzinfo=rules.tz).astimezone(UTC)
    reviews: list[Candidate] = []
    news: list[Candidate] = []
    seminars: list[Candidate] = []
    for item in items:
        if item.published_at > now:
            continue
        if item.kind is ItemKind.SEMINAR:
            assert item.starts_at is not None
            if now < item.starts_at <= window_end:
                seminars.append(item)
        elif since < item.published_at and (item.kind, item.id) not in featured:
            (reviews if item.kind is ItemKind.REVIEW else news).append(item)
    reviews.sort(key=lambda c: (c.published_at, c.id))
    news.sort(key=lambda c: (c.published_at, c.id))
    seminars.sort(key=lambda c: (c.starts_at or now, c.id))
    new_seminars = [s for s in seminars if (ItemKind.SEMINAR, s.id) not in featured]
    new_count = len(reviews) + len(news) + len(new_seminars)
    return IssuePlan(
        period=period_of(now, rules.tz),
        since_at=since,
        cutoff_at=now.astimezone(UTC),
        reviews=[c.id for c in reviews],
        seminars=[c.id for c in seminars],
        news=[c.id for c in news],
        new_count=new_count,
        worth_sending=new_count >= rules.min_new and bool(reviews or seminars or news),
    )
