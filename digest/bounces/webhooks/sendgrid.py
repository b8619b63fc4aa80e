"""SendGrid's Signed Event Webhook (a JSON array of events), POSTed to `/webhooks/sendgrid`.

SendGrid signs `timestamp + raw body` with ECDSA P-256 / SHA-256: the base64 DER signature
is in `X-Twilio-Email-Event-Webhook-Signature`, the Unix timestamp in
`X-Twilio-Email-Event-Webhook-Timestamp`, and the verification key (base64 DER
SubjectPublicKeyInfo) is shown in SendGrid's Mail Settings. Because the body is signed, a
replay can only repeat genuine events, which `event_id` (`sg_event_id`) deduplication
absorbs; the freshness window (default 1 hour) is defence in depth.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.bounces.events import Feedback, FeedbackKind
from digest.bounces.webhooks import fields
from digest.bounces.webhooks.base import (
    MAX_BODY_BYTES,
    Verified,
    WebhookRejected,
    base64_bytes,
    check_signed_time,
    check_size,
    header,
    parse_json,
)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

BOUNCE_TYPES: Mapping[str, FeedbackKind] = {
    "bounce": FeedbackKind.HARD,  # the receiving server rejected the address
    "blocked": FeedbackKind.SOFT,  # rejected for the message or our IP, not the address
    "expired": FeedbackKind.SOFT,  # deferred until SendGrid gave up
}
# `dropped` reason -> kind; other reasons (Unsubscribed Address, Spam Content, Invalid
# SMTPAPI header...) are UNKNOWN: requests or faults on our side, for a person.
DROPPED_REASONS: Mapping[str, FeedbackKind] = {
    "Bounced Address": FeedbackKind.HARD,
    "Invalid": FeedbackKind.HARD,
    "Spam Reporting Address": FeedbackKind.COMPLAINT,
}
EVENT_KINDS: Mapping[str, FeedbackKind] = {
    "deferred": FeedbackKind.SOFT,
    "spamreport": FeedbackKind.COMPLAINT,
    "unsubscribe": FeedbackKind.UNKNOWN,
    "group_unsubscribe": FeedbackKind.UNKNOWN,
}


def load_verification_key(key: str | bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 public key from SendGrid's base64 DER string (PEM is accepted too)."""
    raw = key.encode("ascii") if isinstance(key, str) else key
    if b"BEGIN PUBLIC KEY" in raw:
        loaded = serialization.load_pem_public_key(raw)
    else:
        loaded = serialization.load_der_public_key(base64.b64decode(b"".join(raw.split())))
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or loaded.curve.name != "secp256r1":
        raise ValueError("SendGrid verification key must be an EC P-256 public key")
    return loaded


class SendGridProvider:
    """Checks SendGrid's ECDSA signature and freshness, and normalises the event batch."""

    name = "sendgrid"

    def __init__(
        self,
        public_key: str | bytes,
        *,
        tolerance: timedelta = timedelta(hours=1),
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self._key = load_verification_key(public_key)
        self._tolerance = tolerance
        self._max_body = max_body

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Verified:
        """Verify the signature over timestamp + body, then return every event's feedback."""
        check_size(body, self._max_body)
        signature = header(headers, SIGNATURE_HEADER)
        timestamp = header(headers, TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise WebhookRejected(401, "missing signature")
        raw = base64_bytes(signature, "bad signature")
        try:
            self._key.verify(raw, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise WebhookRejected(401, "bad signature") from None
        check_signed_time(timestamp, now, self._tolerance)
        events = parse_json(body)
        if not isinstance(events, list):
            raise WebhookRejected(400, "body is not a JSON array")
        feedback: list[Feedback] = []
        for event in events:
            if not isinstance(event, dict):
                raise WebhookRejected(400, "event is not a JSON object")
            feedback.extend(sendgrid_feedback(event))
        return Verified(feedback=feedback)


def sendgrid_feedback(event: Mapping[str, object]) -> list[Feedback]:
    """The Feedback in one SendGrid event; none for processed, delivered, open, click..."""
    kind = _kind(event)
    if kind is None:
        return []
    event_key = fields.text(event, "sg_event_id")
    if not event_key:  # older events carried no id: the event's own bytes identify it
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"))
        event_key = "sha256-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    reason = fields.text(event, "reason") or fields.text(event, "response")
    return [Feedback(
        kind=kind,
        event_id=f"sendgrid:{event_key}",
        recipient=fields.address(event.get("email")),
        status=fields.enhanced_status(event.get("status"), reason),
        diagnostic=(fields.one_line(reason)
                    or fields.one_line("sendgrid", fields.text(event, "event"))),
        original_message_id=fields.message_id(event.get("smtp-id")),
        occurred_at=fields.from_unix(event.get("timestamp")),
    )]


def _kind(event: Mapping[str, object]) -> FeedbackKind | None:
    """The kind an event reports, or None when it is not about a failure or complaint."""
    name = fields.text(event, "event") or ""
    if name == "bounce":
        bounce_type = BOUNCE_TYPES.get(fields.text(event, "type") or "")
        if bounce_type is not None:
            return bounce_type
        status = fields.text(event, "status") or ""  # an untyped bounce: go by the status class
        return {"5": FeedbackKind.HARD, "4": FeedbackKind.SOFT}.get(status[:1],
                                                                    FeedbackKind.UNKNOWN)
    if name == "dropped":
        return DROPPED_REASONS.get(fields.text(event, "reason") or "", FeedbackKind.UNKNOWN)
    return EVENT_KINDS.get(name)
