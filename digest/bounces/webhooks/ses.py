"""Amazon SES bounce, complaint and delay notifications, delivered by SNS to `/webhooks/ses`.

The SNS envelope is verified by `sns.verify_message`; its `Message` is the SES notification
JSON (`notificationType` for identity notifications, `eventType` for configuration-set event
publishing). SNS "raw message delivery" must stay off: a raw body carries no signature.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from digest.bounces.events import Feedback, FeedbackKind
from digest.bounces.webhooks import fields
from digest.bounces.webhooks.base import (
    MAX_BODY_BYTES,
    Verified,
    WebhookRejected,
    as_object,
    check_size,
    parse_json,
)
from digest.bounces.webhooks.sns import (
    CertificateCache,
    Fetcher,
    is_sns_url,
    verify_message,
)

BOUNCE_KINDS: Mapping[str, FeedbackKind] = {
    "Permanent": FeedbackKind.HARD,
    "Transient": FeedbackKind.SOFT,
    "Undetermined": FeedbackKind.SOFT,
}
# notification type -> (object key, recipients key)
_SECTIONS: Mapping[str, tuple[str, str]] = {
    "Bounce": ("bounce", "bouncedRecipients"),
    "Complaint": ("complaint", "complainedRecipients"),
    "DeliveryDelay": ("deliveryDelay", "delayedRecipients"),
}


class SesProvider:
    """Verifies SNS-signed SES notifications from the configured topics."""

    name = "ses"

    def __init__(
        self,
        topic_arns: str | Collection[str],
        fetch_cert: Fetcher,
        *,
        tolerance: timedelta = timedelta(hours=1),
        max_body: int = MAX_BODY_BYTES,
        cache_size: int = 16,
    ) -> None:
        arns = frozenset([topic_arns] if isinstance(topic_arns, str) else topic_arns)
        if not arns or not all(arn.startswith("arn:aws") for arn in arns):
            raise ValueError("SES webhook needs at least one SNS topic ARN")
        self._topic_arns = arns
        self._tolerance = tolerance
        self._max_body = max_body
        self._certificates = CertificateCache(fetch_cert, cache_size)

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Verified:
        """Verify an SNS POST; confirmations give `confirm_url`, notifications give feedback."""
        check_size(body, self._max_body)
        message = as_object(parse_json(body))
        kind = verify_message(
            message, headers, now,
            topic_arns=self._topic_arns, tolerance=self._tolerance,
            certificates=self._certificates,
        )
        if kind == "SubscriptionConfirmation":
            url = fields.text(message, "SubscribeURL") or ""
            if not is_sns_url(url):
                raise WebhookRejected(403, "subscribe URL not allowed")
            return Verified(confirm_url=url)
        if kind == "UnsubscribeConfirmation":
            return Verified()
        payload = fields.text(message, "Message") or ""
        notification = as_object(parse_json(payload.encode("utf-8")), "SES notification")
        message_id = fields.text(message, "MessageId") or ""
        return Verified(feedback=ses_feedback(message_id, notification))


def ses_feedback(sns_message_id: str, notification: Mapping[str, object]) -> list[Feedback]:
    """One Feedback per recipient of an SES Bounce, Complaint or DeliveryDelay notification."""
    kind = fields.text(notification, "notificationType") or fields.text(notification, "eventType")
    if kind is None or kind not in _SECTIONS:
        return []  # Delivery, Send, Open, Click...: nothing to act on
    section_key, recipients_key = _SECTIONS[kind]
    section = as_object(notification.get(section_key), f"SES {section_key}")
    raw_mail = notification.get("mail")
    mail: Mapping[str, object] = raw_mail if isinstance(raw_mail, dict) else {}
    feedback_kind, reason = _classify(kind, section)
    if feedback_kind is None:
        return []
    recipients = section.get(recipients_key)
    out: list[Feedback] = []
    for index, entry in enumerate(recipients if isinstance(recipients, list) else []):
        if not isinstance(entry, dict):
            continue
        recipient = fields.address(entry.get("emailAddress"))
        diagnostic = fields.text(entry, "diagnosticCode")
        out.append(Feedback(
            kind=feedback_kind,
            event_id=f"ses:{sns_message_id}:{recipient or index}",
            recipient=recipient,
            status=fields.enhanced_status(entry.get("status"), diagnostic),
            diagnostic=fields.one_line(diagnostic) or reason,
            verp_tag=fields.verp_tag(mail.get("source")),
            original_message_id=_original_message_id(mail),
            occurred_at=fields.from_iso(section.get("timestamp")),
        ))
    return out


def _classify(kind: str, section: Mapping[str, object]) -> tuple[FeedbackKind | None, str | None]:
    """The kind for a notification's recipients, and a fallback one-line reason."""
    if kind == "Bounce":
        bounce_type = fields.text(section, "bounceType") or ""
        sub_type = fields.text(section, "bounceSubType")
        reason = fields.one_line("SES", bounce_type, sub_type, "bounce")
        return BOUNCE_KINDS.get(bounce_type, FeedbackKind.UNKNOWN), reason
    if kind == "Complaint":
        feedback_type = fields.text(section, "complaintFeedbackType")
        if feedback_type == "not-spam":
            return None, None  # the recipient said the opposite of a complaint
        sub_type = fields.text(section, "complaintSubType")
        return FeedbackKind.COMPLAINT, fields.one_line("complaint", feedback_type, sub_type)
    delay = fields.text(section, "delayType")
    return FeedbackKind.SOFT, fields.one_line("SES delivery delay", delay)


def _original_message_id(mail: Mapping[str, object]) -> str | None:
    """Our Message-ID from the original headers (SES's own `mail.messageId` is not one)."""
    headers = mail.get("headers")
    for item in headers if isinstance(headers, list) else []:
        if isinstance(item, dict) and str(item.get("name", "")).lower() == "message-id":
            return fields.message_id(item.get("value"))
    common = mail.get("commonHeaders")
    return fields.message_id(common.get("messageId")) if isinstance(common, dict) else None
