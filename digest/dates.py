"""The years digest works in, and the local times that name one instant, checked wherever a
date comes in (content files, --as-of).

Planning steps a month back and a seminar window ahead, and shows each moment in the
editorial time zone: near year 1 or year 9999 those steps leave the calendar Python can hold
(an OverflowError far from the date that caused it, or a loop that never ends). Any real
issue, review or seminar falls well inside these years.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

FIRST_YEAR, LAST_YEAR = 1900, 2199


def year_problem(moment: date) -> str | None:
    """Why `moment` (a date or datetime) is outside the years digest works in, or None."""
    if FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None
    return f"the year {moment.year} is outside {FIRST_YEAR}-{LAST_YEAR}"


def local_time_problem(moment: datetime, tz: ZoneInfo) -> str | None:
    """Why the local wall-clock time `moment` (naive) names no one instant in `tz`, or None.

    In a spring-forward gap the time never happens (zoneinfo would quietly move it an hour);
    in an autumn fall-back it happens twice. An aware `moment` names its instant itself.
    """
    if moment.tzinfo is not None:
        return None
    first, second = moment.replace(tzinfo=tz, fold=0), moment.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    shown = moment.isoformat(timespec="minutes")
    shifted = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if shifted != moment:
        return (f"{shown} does not exist in {tz.key}: the clocks go forward then; write "
                f"the time they show (it would be {shifted.isoformat(timespec='minutes')})")
    offsets = " or ".join(_offset(d) for d in (first, second))
    return (f"{shown} happens twice in {tz.key}: the clocks go back then; give an offset "
            f"({offsets}) to say which")


def _offset(moment: datetime) -> str:
    """`+01:00` for a moment one hour ahead of UTC."""
    text = moment.strftime("%z")
    return f"{text[:3]}:{text[3:]}"
