"""Reading the values in a provider's JSON: leniently (a missing or mistyped value is None, never
a refusal), and cleaned for what the records keep (bare addresses, UTC times, one-line text).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from digest.bounces import heuristics, mime
from digest.dates import FIRST_YEAR, LAST_YEAR, year_problem

_DIAGNOSTIC_MAX = 500
# The Unix seconds of the years digest works in (digest.dates): a time outside is no event's.
_FIRST_SECOND = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp()
_PAST_LAST_SECOND = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC).timestamp()


def text(data: Mapping[str, object], key: str) -> str | None:
    """The string at `key`, or None when it is missing or not a string."""
    value = data.get(key)
    return value if isinstance(value, str) else None


def from_unix(value: object) -> datetime | None:
    """A Unix time (number or numeric string) in the years digest works in, as an aware UTC
    datetime, or None (also for NaN, infinities and integers no float can hold)."""
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value) if isinstance(value, int | float | str) else None
    except (ValueError, OverflowError):
        return None
    # NaN compares false both ways, so it is refused here too.
    if seconds is None or not _FIRST_SECOND <= seconds < _PAST_LAST_SECOND:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def from_iso(value: object) -> datetime | None:
    """An ISO 8601 time (naive means UTC) in the years digest works in, as an aware UTC
    datetime, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO 8601; year 1 or 9999 moved past the calendar
        return None
    return None if year_problem(moment) else moment


def address(value: object) -> str | None:
    """The one address in `value` ("Name <a@b>" or "a@b"), read as mail's are
    (`mime.bare_address`: ASCII lower-cased; None for none or several), or None."""
    return mime.bare_address(value[:600]) if isinstance(value, str) else None


def verp_tag(envelope_sender: object) -> str | None:
    """The TAG of a VERP envelope sender `bounces+TAG@domain`, or None."""
    addr = address(envelope_sender)
    if addr is None:
        return None
    local = addr.rsplit("@", 1)[0]
    if "+" not in local:
        return None
    return local.split("+", 1)[1] or None


def one_line(*parts: object) -> str | None:
    """The non-empty string parts joined on one line, control characters removed, capped."""
    words = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in words).split())
    return cleaned[:_DIAGNOSTIC_MAX] or None


def enhanced_status(*candidates: object) -> str | None:
    """The first RFC 3463 code of class 4 or 5 (such as 5.1.1) in the candidates, canonical
    (`heuristics.status_in`, as for mail), or None."""
    for candidate in candidates:
        if isinstance(candidate, str) and (found := heuristics.status_in(candidate)):
            return found
    return None


def message_id(value: object) -> str | None:
    """A Message-ID with its angle brackets, whether or not the provider kept them."""
    if not isinstance(value, str) or not value.strip():
        return None
    bare = value.strip().strip("<>").strip()
    return f"<{bare}>" if bare and not any(c.isspace() for c in bare) else None
