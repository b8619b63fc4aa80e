"""Postmark bounce and spam-complaint webhooks, POSTed to `/webhooks/postmark`.

Postmark does not sign webhooks. Its documented protection is HTTP Basic credentials put in
the webhook URL (`https://user:password@host/webhooks/postmark`), which Postmark sends as an
`Authorization: Basic` header, plus an optional firewall allowlist of Postmark's IPs (done
at the proxy: a provider sees no peer address). There is no signed timestamp, so a replayed
request cannot be refused here; each record has a stable `ID`, and the caller's `event_id`
deduplication makes a replay or retry a no-op.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime

from digest.bounces.events import Feedback, FeedbackKind
from digest.bounces.webhooks import fields
from digest.bounces.webhooks.base import (
    MAX_BODY_BYTES,
    Verified,
    WebhookRejected,
    as_object,
    base64_bytes,
    check_size,
    header,
    parse_json,
)

# Postmark bounce `Type` -> kind. Types not listed (Unsubscribe, Subscribe, AddressChange,
# DMARCPolicy, Unknown, SMTPApiError, TemplateRenderingFailed...) are UNKNOWN: a person
# decides, because they are requests from the person or faults on our side, not verdicts
# on the address.
TYPE_KINDS: Mapping[str, FeedbackKind] = {
    "HardBounce": FeedbackKind.HARD,
    "BadEmailAddress": FeedbackKind.HARD,
    "ManuallyDeactivated": FeedbackKind.HARD,
    "Transient": FeedbackKind.SOFT,
    "SoftBounce": FeedbackKind.SOFT,
    "DnsError": FeedbackKind.SOFT,
    "SpamNotification": FeedbackKind.SOFT,
    "VirusNotification": FeedbackKind.SOFT,
    "Blocked": FeedbackKind.SOFT,
    "SpamComplaint": FeedbackKind.COMPLAINT,
    "AutoResponder": FeedbackKind.AUTO_REPLY,
    "ChallengeVerification": FeedbackKind.AUTO_REPLY,
}


class PostmarkProvider:
    """Checks Postmark's Basic credentials and normalises Bounce and SpamComplaint records."""

    name = "postmark"

    def __init__(self, username: str, password: str, *, max_body: int = MAX_BODY_BYTES) -> None:
        if not username or not password or ":" in username:
            raise ValueError("Postmark webhook needs a username (without ':') and a password")
        self._username = username.encode("utf-8")
        self._password = password.encode("utf-8")
        self._max_body = max_body

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Verified:
        """Check `Authorization: Basic`, then return the record's feedback (if it has any)."""
        self._check_credentials(header(headers, "Authorization"))
        check_size(body, self._max_body)
        return Verified(feedback=postmark_feedback(as_object(parse_json(body))))

    def _check_credentials(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "basic" or not token:
            raise WebhookRejected(401, "missing credentials")
        decoded = base64_bytes(token.strip(), "bad credentials")
        user, _, password = decoded.partition(b":")
        # both comparisons always run, so timing does not tell which half was wrong
        user_ok = hmac.compare_digest(user, self._username)
        password_ok = hmac.compare_digest(password, self._password)
        if not (user_ok and password_ok):
            raise WebhookRejected(401, "bad credentials")


def postmark_feedback(record: Mapping[str, object]) -> list[Feedback]:
    """The Feedback in one Postmark webhook record; none for Delivery, Open, Click..."""
    record_type = fields.text(record, "RecordType")
    if record_type is None and "BouncedAt" in record:
        record_type = "Bounce"  # legacy bounce hooks carried no RecordType
    if record_type == "SpamComplaint":
        kind = FeedbackKind.COMPLAINT
    elif record_type == "Bounce":
        kind = TYPE_KINDS.get(fields.text(record, "Type") or "", FeedbackKind.UNKNOWN)
    else:
        return []
    record_id = record.get("ID")
    if isinstance(record_id, bool) or not isinstance(record_id, int | str) or record_id == "":
        raise WebhookRejected(400, "Postmark record has no ID")
    details = fields.text(record, "Details")
    return [Feedback(
        kind=kind,
        event_id=f"postmark:{record_id}",
        recipient=fields.address(record.get("Email")),
        status=fields.enhanced_status(details, fields.text(record, "Description")),
        diagnostic=fields.one_line(details) or fields.one_line(fields.text(record, "Description")),
        occurred_at=fields.from_iso(record.get("BouncedAt")),
    )]
