"""digest.bounces.webhooks.fields: lenient reading of provider values, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest.bounces.webhooks.fields import from_iso, from_unix

# Times a provider could send that Python's calendar, or the years digest works in, cannot
# hold: each was an OverflowError, ValueError or OSError (a 500) before it was a None.
BAD_ISO = [
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",  # leave the calendar in UTC
    "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59.999999+00:00",
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00", "9999-12-31T23:59:59Z",
    "1899-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "1900-01-01T00:30:00+01:00",
    "10000-01-01T00:00:00Z", "", "not a time", "2026-02-30T00:00:00Z",
]
BAD_UNIX: list[object] = [
    1e20, -1e20, float("nan"), float("inf"), float("-inf"), -1e11, 1e11, -62135596801,
    253402300800, 10**400, -(10**400), "1e20", "-1e20", "nan", "inf", "-inf", "1" * 5000,
    "-1e11", -2208988801, 7258118400, "", "x", True, None, [1], {"t": 1},
]


@pytest.mark.parametrize("value", BAD_ISO)
def test_from_iso_is_none_outside_the_years_digest_works_in(value: str) -> None:
    assert from_iso(value) is None


@pytest.mark.parametrize("value", BAD_UNIX)
def test_from_unix_is_none_for_absurd_or_non_finite_times(value: object) -> None:
    assert from_unix(value) is None


def test_times_inside_the_years_are_kept_in_utc() -> None:
    assert from_iso("2026-03-01T06:58:10-05:00") == datetime(2026, 3, 1, 11, 58, 10, tzinfo=UTC)
    assert from_iso("2026-03-01T11:58:10") == datetime(2026, 3, 1, 11, 58, 10, tzinfo=UTC)
    assert from_iso("1900-01-01T00:00:00Z") == datetime(1900, 1, 1, tzinfo=UTC)
    assert from_iso("2199-12-31T23:59:59Z") == datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert from_unix(1772366282) == datetime(2026, 3, 1, 11, 58, 2, tzinfo=UTC)
    assert from_unix("1772366282.5") == datetime(2026, 3, 1, 11, 58, 2, 500000, tzinfo=UTC)
    assert from_unix(-2208988800) == datetime(1900, 1, 1, tzinfo=UTC)
    assert from_unix(7258118399) == datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)
