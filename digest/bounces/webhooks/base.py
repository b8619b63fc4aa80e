"""The port every provider webhook implements: a request in, verified feedback or a refusal out.

A provider is pure: `verify(headers, body, now)` looks only at the request, its configured
secret and the injected clock (SES also calls an injected certificate fetcher). It never
touches a database; the caller records the returned `Feedback` keyed on `event_id`, so a
provider retry or a replayed request within the freshness window becomes a no-op.

Here too are the checks of a request every provider makes (size, JSON, freshness); reading
the values in the JSON is `fields`'.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from digest.bounces.events import Feedback
from digest.bounces.webhooks.fields import from_unix
from digest.text import unstorable

MAX_BODY_BYTES = 1024 * 1024  # SendGrid batches up to ~768 KB; nothing legitimate is larger
FUTURE_SKEW = timedelta(minutes=5)


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


class _DuplicateKey(ValueError):
    """A JSON object names one key twice."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """An object's members as a dict; raises `_DuplicateKey` if a key comes twice."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _DuplicateKey
    return found


def parse_json(body: bytes) -> object:
    """Decode a UTF-8 JSON body, or refuse it with 400, also when a string (or key) spells a
    lone surrogate (`\\ud800`: not text, it fails in a signature's bytes or a database) or a
    NUL (`\\u0000`: PostgreSQL refuses it, a 503 the provider would retry for ever), or an
    object names a key twice (`{"event": "delivered", "event": "bounce"}`: parsers disagree
    on which one counts, and Python's last-wins is no provider's promise)."""
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey:
        raise WebhookRejected(400, "body names a key twice in one object") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookRejected(400, "body is not JSON") from None
    found = unstorable(value)
    if found == "\x00":
        raise WebhookRejected(400, "body holds a NUL character (\\u0000), not text")
    if found is not None:
        raise WebhookRejected(400, "body holds a lone surrogate (\\uD800-\\uDFFF), not text")
    return value


def as_object(value: object, what: str = "body") -> Mapping[str, object]:
    """Return `value` as a JSON object, or refuse with 400."""
    if not isinstance(value, dict):
        raise WebhookRejected(400, f"{what} is not a JSON object")
    return value


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


def base64_bytes(value: str, refusal: str) -> bytes:
    """Strict base64 (a signature, Basic credentials) decoded, or refuse with 401 `refusal`:
    a character outside the alphabet, non-ASCII ones included (`b64decode` raises ValueError
    on those, which was a 500), is a wrong credential, not a fault of ours."""
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error is one
        raise WebhookRejected(401, refusal) from None


def check_signed_time(timestamp: str, now: datetime, tolerance: timedelta) -> None:
    """Refuse with 401 a signed timestamp that is not a whole number of Unix seconds, and with
    403 one older than `tolerance` or too far in the future (see `check_fresh`)."""
    whole = timestamp.isascii() and timestamp.isdigit()  # str.isdigit is true of "١" and "²"
    signed_at = from_unix(timestamp) if whole else None
    if signed_at is None:
        raise WebhookRejected(401, "bad signature timestamp")
    check_fresh(signed_at, now, tolerance)
