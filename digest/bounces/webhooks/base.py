"""The port every provider webhook implements: a request in, verified feedback or a refusal out.

A provider is pure: `verify(headers, body, now)` looks only at the request, its configured
secret and the injected clock (SES also calls an injected certificate fetcher). It never
touches a database; the caller records the returned `Feedback` keyed on `event_id`, so a
provider retry or a replayed request within the freshness window becomes a no-op.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Protocol

from digest.bounces.events import Feedback

MAX_BODY_BYTES = 1024 * 1024  # SendGrid batches up to ~768 KB; nothing legitimate is larger
FUTURE_SKEW = timedelta(minutes=5)
_DIAGNOSTIC_MAX = 500
_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")


class WebhookRejected(Exception):
    """A request refused before anything was recorded; `status` is the HTTP answer to give.

    401: credential or signature missing or wrong. 403: authentic-looking but not acceptable
    (stale or future timestamp, a topic or certificate URL not allowed). 400: body malformed.
    413: body too large. 503: the SES signing certificate could not be fetched (retry later).
    `reason` is a short constant phrase, never an echo of the request.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Verified:
    """What an authentic request said.

    `confirm_url` is set only for an SNS SubscriptionConfirmation: the caller GETs it (its
    host was checked) to confirm the subscription. `nonce` is set when the provider's
    signature does not cover the body (Mailgun): the caller must store it for at least the
    freshness window and refuse a request that reuses it.
    """

    feedback: list[Feedback] = field(default_factory=list)
    confirm_url: str | None = None
    nonce: str | None = None


class Provider(Protocol):
    """One email provider's webhook: checks authenticity, then normalises the events."""

    @property
    def name(self) -> str:
        """The provider's name, also its `FeedbackSource` value and URL segment."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Verified:
        """Return the feedback in an authentic request, or raise `WebhookRejected`."""
        ...


def check_size(body: bytes, limit: int) -> None:
    """Refuse a body over `limit` bytes with 413."""
    if len(body) > limit:
        raise WebhookRejected(413, "body too large")


def parse_json(body: bytes) -> object:
    """Decode a UTF-8 JSON body, or refuse it with 400."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookRejected(400, "body is not JSON") from None


def as_object(value: object, what: str = "body") -> Mapping[str, object]:
    """Return `value` as a JSON object, or refuse with 400."""
    if not isinstance(value, dict):
        raise WebhookRejected(400, f"{what} is not a JSON object")
    return value


def text(data: Mapping[str, object], key: str) -> str | None:
    """The string at `key`, or None when it is missing or not a string."""
    value = data.get(key)
    return value if isinstance(value, str) else None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value whatever the case of its name (plain dicts are case-sensitive)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None


def utc(now: datetime) -> datetime:
    """`now` in UTC; a naive clock is a programming error."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def check_fresh(signed_at: datetime, now: datetime, tolerance: timedelta) -> None:
    """Refuse with 403 a signed time older than `tolerance` or too far in the future."""
    now = utc(now)
    if signed_at < now - tolerance:
        raise WebhookRejected(403, "stale timestamp")
    if signed_at > now + FUTURE_SKEW:
        raise WebhookRejected(403, "timestamp in the future")


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
