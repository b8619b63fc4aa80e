"""SES notifications through SNS: the kind mapping and the fields of each Feedback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from digest.bounces.events import Feedback, FeedbackKind, FeedbackSource
from digest.bounces.webhooks import PROVIDERS, SesProvider
from tests.bounces.sns_support import (
    FIXTURES,
    FakeFetcher,
    confirmation,
    notification,
    post,
    rejected,
)


def test_signed_bounce_gives_one_hard_feedback_per_recipient() -> None:
    result = post(notification(), headers={"x-amz-sns-message-type": "Notification"})
    common: dict[str, Any] = {
        "kind": FeedbackKind.HARD,
        "verp_tag": "d7f3a1c2",
        "original_message_id": "<issue-42.d7f3a1c2@digest.example.org>",
        "occurred_at": datetime(2026, 3, 1, 11, 58, 2, 237000, tzinfo=UTC),
    }
    assert result.feedback == [
        Feedback(
            event_id="ses:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:gwen.jones@example.cymru",
            recipient="gwen.jones@example.cymru", status="5.1.1",
            diagnostic="smtp; 550 5.1.1 <gwen.jones@example.cymru>... User unknown", **common,
        ),
        Feedback(
            event_id="ses:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:dai@example.org",
            recipient="dai@example.org", status=None,
            diagnostic="SES Permanent General bounce", **common,
        ),
    ]
    assert result.confirm_url is None


@pytest.mark.parametrize(("bounce_type", "kind"), [
    ("Transient", FeedbackKind.SOFT), ("Undetermined", FeedbackKind.SOFT),
    ("Permanent", FeedbackKind.HARD), ("SomethingNew", FeedbackKind.UNKNOWN),
])
def test_bounce_types(bounce_type: str, kind: FeedbackKind) -> None:
    ses = json.loads((FIXTURES / "ses_bounce.json").read_text())
    ses["bounce"]["bounceType"] = bounce_type
    signed = notification(Message=json.dumps(ses))
    assert {f.kind for f in post(signed).feedback} == {kind}


def test_complaint_and_event_publishing_format() -> None:
    ses = json.loads((FIXTURES / "ses_complaint.json").read_text())
    del ses["notificationType"]
    ses["eventType"] = "Complaint"  # configuration-set event publishing names it eventType
    [feedback] = post(notification(Message=json.dumps(ses))).feedback
    assert feedback.kind is FeedbackKind.COMPLAINT
    assert feedback.recipient == "rhys@example.net"
    assert feedback.original_message_id == "<issue-42.aa11bb22@digest.example.org>"
    assert feedback.verp_tag is None
    assert feedback.diagnostic == "complaint abuse"


def test_not_spam_feedback_is_not_a_complaint() -> None:
    ses = json.loads((FIXTURES / "ses_complaint.json").read_text())
    ses["complaint"]["complaintFeedbackType"] = "not-spam"
    assert post(notification(Message=json.dumps(ses))).feedback == []


def test_delivery_delay_is_soft_and_delivery_is_nothing() -> None:
    delay = {
        "eventType": "DeliveryDelay",
        "mail": {"source": "digest@example.org"},
        "deliveryDelay": {
            "timestamp": "2026-03-01T11:00:00.000Z", "delayType": "MailboxFull",
            "delayedRecipients": [{"emailAddress": "full@example.org", "status": "4.2.2",
                                   "diagnosticCode": "smtp; 452 4.2.2 Mailbox full"}],
        },
    }
    [feedback] = post(notification(Message=json.dumps(delay))).feedback
    assert (feedback.kind, feedback.status) == (FeedbackKind.SOFT, "4.2.2")
    assert post(notification("ses_delivery.json")).feedback == []


def test_subscription_confirmation_gives_the_confirm_url() -> None:
    result = post(confirmation())
    assert result.confirm_url == (
        "https://sns.eu-west-2.amazonaws.com/?Action=ConfirmSubscription&T=1"
    )
    assert result.feedback == []
    assert post(confirmation("UnsubscribeConfirmation")).confirm_url is None


def test_signed_message_that_is_not_ses_json_is_400() -> None:
    assert rejected(notification(Message="hello")) == 400


def test_configuration_is_required() -> None:
    with pytest.raises(ValueError):
        SesProvider([], FakeFetcher())


def test_registry_names_are_feedback_sources() -> None:
    assert PROVIDERS["ses"] is SesProvider
    assert SesProvider.name == FeedbackSource.SES
    assert set(PROVIDERS) == {"ses", "postmark", "mailgun", "sendgrid"}
    assert set(PROVIDERS) <= {source.value for source in FeedbackSource}


def test_provider_status_codes_are_read_as_mail_s_are() -> None:
    """One reading of RFC 3463 codes for webhooks and mail: ASCII digits only (a provider's
    "5.١.١" was kept as a status), no leading zeros, and class 4 or 5 (a failure's 2.0.0 is no
    failure code)."""
    from digest.bounces.webhooks.fields import enhanced_status

    assert enhanced_status("5.01.001") == "5.1.1"
    assert enhanced_status("5.\u0661.\u0661", "550 5.1.10 RecipientNotFound") == "5.1.10"
    assert enhanced_status("2.0.0", "smtp; 5.1.1") == "5.1.1"
    assert enhanced_status(None, 5.1, "") is None
