"""Mailgun webhooks: HMAC over timestamp + token, freshness, the token as nonce, the mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digest.bounces.events import Feedback, FeedbackKind
from digest.bounces.webhooks import MailgunProvider, Verified, WebhookRejected

FIXTURES = Path(__file__).parent / "webhooks"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
TOKEN = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"


def signature(timestamp: int = int(NOW.timestamp()) - 30, token: str = TOKEN,
              key: str = KEY) -> dict[str, str]:
    """A Mailgun signature block, computed as Mailgun's documentation describes."""
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": str(timestamp), "token": token, "signature": digest}


def event(name: str = "mailgun_failed_permanent.json", **changes: Any) -> dict[str, Any]:
    """An event-data fixture, with top-level fields changed."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return {**data, **changes}


def payload(event_data: dict[str, Any] | None = None, **sig: Any) -> bytes:
    """A signed webhook body."""
    body = {"signature": signature(**sig), "event-data": event_data or event()}
    return json.dumps(body).encode()


def post(body: bytes) -> Verified:
    """Verify a request with the configured signing key."""
    return MailgunProvider(KEY).verify({}, body, NOW)


def rejected(body: bytes) -> int:
    """The HTTP status a request is refused with."""
    with pytest.raises(WebhookRejected) as info:
        post(body)
    return info.value.status


def test_signed_permanent_failure_gives_hard_feedback_and_the_token() -> None:
    result = post(payload())
    assert result.feedback == [Feedback(
        kind=FeedbackKind.HARD,
        event_id="mailgun:G9Bn5sl1TC6nu79C8C0bwg:1772366282",
        recipient="gwen.jones@example.cymru",
        status="5.1.1",
        diagnostic="550 5.1.1 The email account that you tried to reach does not exist.",
        verp_tag="d7f3a1c2",
        original_message_id="<issue-42.d7f3a1c2@digest.example.org>",
        occurred_at=datetime(2026, 3, 1, 11, 58, 2, 908181, tzinfo=UTC),
    )]
    assert result.nonce == f"mailgun:{TOKEN}"


@pytest.mark.parametrize(("changes", "kind"), [
    ({"severity": "temporary"}, FeedbackKind.SOFT),
    ({"reason": "suppress-bounce"}, FeedbackKind.HARD),
    ({"reason": "suppress-complaint"}, FeedbackKind.COMPLAINT),
    ({"reason": "suppress-unsubscribe"}, FeedbackKind.UNKNOWN),
    ({"severity": None}, FeedbackKind.UNKNOWN),
])
def test_failed_events(changes: dict[str, Any], kind: FeedbackKind) -> None:
    [feedback] = post(payload(event(**changes))).feedback
    assert feedback.kind is kind


def test_complained_is_a_complaint() -> None:
    [feedback] = post(payload(event("mailgun_complained.json"))).feedback
    assert (feedback.kind, feedback.recipient, feedback.original_message_id) == (
        FeedbackKind.COMPLAINT, "rhys@example.net", "<issue-42.aa11bb22@digest.example.org>")
    assert feedback.diagnostic == "mailgun complained"


def test_delivered_gives_nothing() -> None:
    assert post(payload(event("mailgun_delivered.json"))).feedback == []


def test_suppressed_address_reads_the_description() -> None:
    status = {"code": 605, "message": "", "description": "Not delivering to previously bounced"}
    data = event(reason="suppress-bounce")
    data["delivery-status"] = status
    [feedback] = post(payload(data)).feedback
    assert (feedback.status, feedback.diagnostic) == (
        None, "605 Not delivering to previously bounced")


def test_wrong_key_is_401() -> None:
    assert rejected(payload(key="key-someone-else")) == 401


@pytest.mark.parametrize("missing", ["signature", "timestamp", "token"])
def test_missing_signature_is_401(missing: str) -> None:
    body = json.loads(payload())
    if missing == "signature":
        del body["signature"]
    else:
        del body["signature"][missing]
    assert rejected(json.dumps(body).encode()) == 401


@pytest.mark.parametrize(("field", "value"), [
    ("timestamp", str(int(NOW.timestamp()))), ("token", "b" * 50), ("signature", "0" * 64),
])
def test_tampered_signature_block_is_401(field: str, value: str) -> None:
    body = json.loads(payload())
    body["signature"][field] = value
    assert rejected(json.dumps(body).encode()) == 401


def test_event_data_is_not_signed_so_the_token_is_the_replay_guard() -> None:
    # Mailgun's HMAC covers timestamp + token only: an edited event-data still verifies.
    # The caller refuses the second use of a nonce, which is what stops such a forgery.
    genuine = post(payload())
    forged = post(payload(event(recipient="someone-else@example.org")))
    assert forged.nonce == genuine.nonce


@pytest.mark.parametrize("offset", [-6 * 60, -9 * 3600, 6 * 60])
def test_stale_or_future_timestamp_is_403(offset: int) -> None:
    assert rejected(payload(timestamp=int(NOW.timestamp()) + offset)) == 403


def test_tolerance_is_configurable() -> None:
    body = payload(timestamp=int(NOW.timestamp()) - 3600)
    assert MailgunProvider(KEY, tolerance=timedelta(hours=2)).verify({}, body, NOW).feedback


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"\xff"])
def test_malformed_body_is_400(body: bytes) -> None:
    assert rejected(body) == 400


def test_signed_body_without_event_data_is_400() -> None:
    body = json.dumps({"signature": signature()}).encode()
    assert rejected(body) == 400
    assert rejected(payload(event(id=None))) == 400


def test_configuration_is_required() -> None:
    with pytest.raises(ValueError):
        MailgunProvider("")
