"""Postmark webhooks: HTTP Basic credentials (Postmark signs nothing) and the type mapping."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from digest.bounces.events import Feedback, FeedbackKind
from digest.bounces.webhooks import PostmarkProvider, Verified, WebhookRejected

FIXTURES = Path(__file__).parent / "webhooks"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
USER, PASSWORD = "postmark", "c0rrect-h0rse-batt3ry-st4ple"


def basic(user: str = USER, password: str = PASSWORD) -> str:
    """An Authorization header value, as Postmark derives it from the webhook URL."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def fixture(name: str, **changes: Any) -> bytes:
    """A Postmark payload fixture, with top-level fields changed."""
    return json.dumps({**json.loads((FIXTURES / name).read_text()), **changes}).encode()


def post(body: bytes, headers: dict[str, str] | None = None) -> Verified:
    """Verify a request with correct credentials unless `headers` says otherwise."""
    provider = PostmarkProvider(USER, PASSWORD)
    return provider.verify({"Authorization": basic()} if headers is None else headers, body, NOW)


def rejected(body: bytes, headers: dict[str, str] | None = None) -> int:
    """The HTTP status a request is refused with."""
    with pytest.raises(WebhookRejected) as info:
        post(body, headers)
    return info.value.status


def test_bounce_with_correct_credentials_gives_hard_feedback() -> None:
    assert post(fixture("postmark_bounce.json")).feedback == [Feedback(
        kind=FeedbackKind.HARD,
        event_id="postmark:4323372036854775807",
        recipient="gwen.jones@example.cymru",
        status="5.1.1",
        diagnostic="smtp;550 5.1.1 The email account that you tried to reach does not exist. "
                   "Please try double-checking the recipient's email address.",
        occurred_at=datetime(2026, 3, 1, 11, 58, 10, 273539, tzinfo=UTC),
    )]


def test_spam_complaint_record_is_a_complaint() -> None:
    [feedback] = post(fixture("postmark_spam_complaint.json")).feedback
    assert (feedback.kind, feedback.event_id, feedback.recipient) == (
        FeedbackKind.COMPLAINT, "postmark:42", "rhys@example.net")


@pytest.mark.parametrize(("bounce_type", "kind"), [
    ("HardBounce", FeedbackKind.HARD),
    ("BadEmailAddress", FeedbackKind.HARD),
    ("ManuallyDeactivated", FeedbackKind.HARD),
    ("SoftBounce", FeedbackKind.SOFT),
    ("Transient", FeedbackKind.SOFT),
    ("DnsError", FeedbackKind.SOFT),
    ("Blocked", FeedbackKind.SOFT),
    ("SpamComplaint", FeedbackKind.COMPLAINT),
    ("AutoResponder", FeedbackKind.AUTO_REPLY),
    ("ChallengeVerification", FeedbackKind.AUTO_REPLY),
    ("Unsubscribe", FeedbackKind.UNKNOWN),
    ("DMARCPolicy", FeedbackKind.UNKNOWN),
    ("SomethingNew", FeedbackKind.UNKNOWN),
])
def test_bounce_types(bounce_type: str, kind: FeedbackKind) -> None:
    [feedback] = post(fixture("postmark_bounce.json", Type=bounce_type)).feedback
    assert feedback.kind is kind


def test_delivery_and_other_records_give_nothing() -> None:
    assert post(fixture("postmark_delivery.json")).feedback == []


def test_legacy_bounce_without_record_type() -> None:
    record = json.loads(fixture("postmark_bounce.json"))
    del record["RecordType"]
    assert post(json.dumps(record).encode()).feedback[0].kind is FeedbackKind.HARD


@pytest.mark.parametrize("authorization", [
    basic(password="wrong"),
    basic(user="someone"),
    basic(password=PASSWORD + "x"),
    basic(user="", password=""),
    "Bearer " + PASSWORD,
    "Basic",
    "Basic not-base64!",
    "Basic " + base64.b64encode(PASSWORD.encode()).decode(),
])
def test_wrong_credentials_are_401(authorization: str) -> None:
    assert rejected(fixture("postmark_bounce.json"), {"Authorization": authorization}) == 401


def test_missing_credentials_are_401() -> None:
    assert rejected(fixture("postmark_bounce.json"), {}) == 401


def test_credentials_are_checked_before_the_body() -> None:
    assert rejected(b"{not json", {"Authorization": basic(password="wrong")}) == 401


def test_header_name_is_case_insensitive() -> None:
    assert len(post(fixture("postmark_bounce.json"), {"authorization": basic()}).feedback) == 1


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"RecordType": "Bounce"}'])
def test_malformed_body_is_400(body: bytes) -> None:
    assert rejected(body) == 400


def test_replay_has_no_timestamp_to_refuse_but_repeats_the_same_event_id() -> None:
    # Postmark signs nothing and sends no timestamp: a replay is made harmless downstream,
    # where recording an event_id a second time is a no-op.
    body = fixture("postmark_bounce.json")
    assert post(body).feedback == post(body).feedback


def test_oversized_body_is_413() -> None:
    provider = PostmarkProvider(USER, PASSWORD, max_body=10)
    with pytest.raises(WebhookRejected) as info:
        provider.verify({"Authorization": basic()}, b" " * 11, NOW)
    assert info.value.status == 413


@pytest.mark.parametrize(("user", "password"), [("", PASSWORD), (USER, ""), ("a:b", PASSWORD)])
def test_configuration_is_required(user: str, password: str) -> None:
    with pytest.raises(ValueError):
        PostmarkProvider(user, password)
