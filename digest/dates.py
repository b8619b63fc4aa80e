"""The years digest works in, checked wherever a date comes in (content files, --as-of).

Planning steps a month back and a seminar window ahead, and shows each moment in the
editorial time zone: near year 1 or year 9999 those steps leave the calendar Python can hold
(an OverflowError far from the date that caused it, or a loop that never ends). Any real
issue, review or seminar falls well inside these years.
"""

from __future__ import annotations

from datetime import date

FIRST_YEAR, LAST_YEAR = 1900, 2199


def year_problem(moment: date) -> str | None:
    """Why `moment` (a date or datetime) is outside the years digest works in, or None."""
    if FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None
    return f"the year {moment.year} is outside {FIRST_YEAR}-{LAST_YEAR}"
