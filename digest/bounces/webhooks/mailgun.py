"""Mailgun webhooks (JSON `signature` + `event-data`), POSTed to `/webhooks/mailgun`.

Mailgun signs only `timestamp + token`: HMAC-SHA256 with the HTTP webhook signing key, hex.
The signature does not cover `event-data`, so a captured signature could be pasted onto a
forged event. Two limits close that: the timestamp must be fresh (default 5 minutes, which
also bounds clock skew), and `Verified.nonce` carries the token, which the caller must store
for at least that window and refuse to accept twice. Mailgun retries a failed POST for up to
8 hours; a retry that reuses the original signature (reported, not documented) is refused
once older than the window. Little is lost: Mailgun suppresses the address itself and
reports the next send to it as `failed` with reason `suppress-bounce` or `suppress-complaint`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

from digest.bounces.events import Feedback, FeedbackKind
from digest.bounces.webhooks import fields
from digest.bounces.webhooks.base import (
    MAX_BODY_BYTES,
    Verified,
    WebhookRejected,
    as_object,
    check_signed_time,
    check_size,
    parse_json,
)

# `failed` + severity=permanent + reason -> kind (any other reason is HARD)
PERMANENT_REASONS: Mapping[str, FeedbackKind] = {
    "suppress-complaint": FeedbackKind.COMPLAINT,
    "suppress-unsubscribe": FeedbackKind.UNKNOWN,  # an unsubscribe at Mailgun, for a person
}


class MailgunProvider:
    """Checks Mailgun's HMAC signature and freshness, and normalises failed/complained events."""

    name = "mailgun"

    def __init__(
        self,
        signing_key: str,
        *,
        tolerance: timedelta = timedelta(minutes=5),
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        if not signing_key:
            raise ValueError("Mailgun webhook needs the HTTP webhook signing key")
        self._key = signing_key.encode("utf-8")
        self._tolerance = tolerance
        self._max_body = max_body

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Verified:
        """Verify the signature block, then return the event's feedback and its token."""
        check_size(body, self._max_body)
        data = as_object(parse_json(body))
        token = self._check_signature(data.get("signature"), now)
        event = as_object(data.get("event-data"), "event-data")
        return Verified(feedback=mailgun_feedback(event), nonce=f"mailgun:{token}")

    def _check_signature(self, block: object, now: datetime) -> str:
        """Return the token of a valid, fresh signature block, or raise."""
        if not isinstance(block, dict):
            raise WebhookRejected(401, "missing signature")
        raw_timestamp = block.get("timestamp")
        timestamp = str(raw_timestamp) if isinstance(raw_timestamp, int | str) else ""
        token = fields.text(block, "token")
        signature = fields.text(block, "signature")
        if not timestamp or not token or not signature:
            raise WebhookRejected(401, "missing signature")
        expected = hmac.new(self._key, (timestamp + token).encode("utf-8"), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest().encode(), signature.lower().encode()):
            raise WebhookRejected(401, "bad signature")
        check_signed_time(timestamp, now, self._tolerance)
        return token


def mailgun_feedback(event: Mapping[str, object]) -> list[Feedback]:
    """The Feedback in one Mailgun event; none for accepted, delivered, opened, clicked..."""
    name = fields.text(event, "event")
    if name == "failed":
        severity = fields.text(event, "severity")
        if severity == "permanent":
            kind = PERMANENT_REASONS.get(fields.text(event, "reason") or "", FeedbackKind.HARD)
        else:
            kind = FeedbackKind.SOFT if severity == "temporary" else FeedbackKind.UNKNOWN
    elif name == "complained":
        kind = FeedbackKind.COMPLAINT
    elif name == "unsubscribed":
        kind = FeedbackKind.UNKNOWN  # Mailgun's own unsubscribe link: a request, for a person
    else:
        return []
    event_key = fields.text(event, "id")
    if not event_key:
        raise WebhookRejected(400, "Mailgun event has no id")
    occurred_at = fields.from_unix(event.get("timestamp"))
    if occurred_at is not None:  # ids are unique only within a day; the event time is stable
        event_key = f"{event_key}:{int(occurred_at.timestamp())}"
    status = _object(event.get("delivery-status"))
    code = status.get("code")
    explanation = fields.text(status, "message") or fields.text(status, "description")
    headers = _object(_object(event.get("message")).get("headers"))
    return [Feedback(
        kind=kind,
        event_id=f"mailgun:{event_key}",
        recipient=fields.address(event.get("recipient")),
        status=fields.enhanced_status(status.get("enhanced-code"), explanation,
                                      fields.text(status, "description")),
        diagnostic=(fields.one_line(str(code) if isinstance(code, int) else None, explanation)
                    or fields.one_line("mailgun", name, fields.text(event, "reason"))),
        verp_tag=fields.verp_tag(_object(event.get("envelope")).get("sender")),
        original_message_id=fields.message_id(headers.get("message-id")),
        occurred_at=occurred_at,
    )]


def _object(value: object) -> Mapping[str, object]:
    """`value` if it is a JSON object, else an empty one (optional sections)."""
    return value if isinstance(value, dict) else {}
