"""Reading the values in a provider's JSON: leniently (a missing or mistyped value is None, never
a refusal), and cleaned for what the records keep (bare addresses, UTC times, one-line text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parseaddr

_DIAGNOSTIC_MAX = 500
_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")


def text(data: Mapping[str, object], key: str) -> str | None:
    """The string at `key`, or None when it is missing or not a string."""
    value = data.get(key)
    return value if isinstance(value, str) else None


def from_unix(value: object) -> datetime | None:
    """A Unix time (number or numeric string) as an aware UTC datetime, or None."""
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None
    if seconds is None or seconds != seconds or abs(seconds) > 1e11:  # NaN or absurd
        return None
    return datetime.fromtimestamp(seconds, UTC)


def from_iso(value: object) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (naive means UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def address(value: object) -> str | None:
    """The bare, lower-case address in `value` ("Name <a@b>" or "a@b"), or None."""
    if not isinstance(value, str):
        return None
    addr = parseaddr(value)[1].strip().lower()
    return addr if "@" in addr else None


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
    """The first RFC 3463 status code (such as 5.1.1) found in the candidates, or None."""
    for candidate in candidates:
        if isinstance(candidate, str) and (match := _STATUS.search(candidate)):
            return match.group(1)
    return None


def message_id(value: object) -> str | None:
    """A Message-ID with its angle brackets, whether or not the provider kept them."""
    if not isinstance(value, str) or not value.strip():
        return None
    bare = value.strip().strip("<>").strip()
    return f"<{bare}>" if bare and not any(c.isspace() for c in bare) else None
