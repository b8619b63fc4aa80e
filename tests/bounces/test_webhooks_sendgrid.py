"""SendGrid's Signed Event Webhook: ECDSA P-256 over timestamp + body, freshness, mapping."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from digest.bounces.events import Feedback, FeedbackKind
from digest.bounces.webhooks import SendGridProvider, Verified, WebhookRejected
from digest.bounces.webhooks.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER

FIXTURES = Path(__file__).parent / "webhooks"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def verification_key(key: ec.EllipticCurvePrivateKey = KEY) -> str:
    """The public key as SendGrid shows it: base64 DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def signed(body: bytes, timestamp: int | None = None,
           key: ec.EllipticCurvePrivateKey = KEY) -> dict[str, str]:
    """The two headers SendGrid sends with `body`."""
    stamp = str(int(NOW.timestamp()) - 5 if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}


def events(*changes: dict[str, Any]) -> bytes:
    """The fixture batch (or a batch of the given events), serialised as SendGrid does."""
    if changes:
        return json.dumps(list(changes)).encode()
    return (FIXTURES / "sendgrid_events.json").read_bytes()


def post(body: bytes, headers: dict[str, str] | None = None) -> Verified:
    """Verify a request, signed correctly unless `headers` is given."""
    provider = SendGridProvider(verification_key())
    return provider.verify(signed(body) if headers is None else headers, body, NOW)


def rejected(body: bytes, headers: dict[str, str] | None = None) -> int:
    """The HTTP status a request is refused with."""
    with pytest.raises(WebhookRejected) as info:
        post(body, headers)
    return info.value.status


def at(seconds: int) -> datetime:
    """A fixture's Unix timestamp as an aware datetime."""
    return datetime.fromtimestamp(seconds, UTC)


def test_signed_batch_gives_feedback_for_failures_and_complaints_only() -> None:
    assert post(events()).feedback == [
        Feedback(kind=FeedbackKind.HARD, event_id="sendgrid:Ym91bmNlLTAtMTIzNDU2Nzg",
                 recipient="gwen.jones@example.cymru", status="5.1.1",
                 diagnostic="550 5.1.1 The email account that you tried to reach does not exist.",
                 original_message_id="<issue-42.d7f3a1c2@digest.example.org>",
                 occurred_at=at(1772366282)),
        Feedback(kind=FeedbackKind.SOFT, event_id="sendgrid:YmxvY2tlZC0xLTEyMzQ1Njc4",
                 recipient="blocked@example.net", status="4.7.0",
                 diagnostic="421 4.7.0 Try again later, closing connection.",
                 original_message_id="<issue-42.ee55ff66@digest.example.org>",
                 occurred_at=at(1772366283)),
        Feedback(kind=FeedbackKind.HARD, event_id="sendgrid:ZHJvcHBlZC0yLTEyMzQ1Njc4",
                 recipient="dai@example.org", status="5.0.0", diagnostic="Bounced Address",
                 original_message_id="<issue-42.ab12cd34@digest.example.org>",
                 occurred_at=at(1772366284)),
        Feedback(kind=FeedbackKind.COMPLAINT, event_id="sendgrid:c3BhbXJlcG9ydC0zLTEyMzQ1Njc4",
                 recipient="rhys@example.net", diagnostic="sendgrid spamreport",
                 original_message_id="<issue-42.aa11bb22@digest.example.org>",
                 occurred_at=at(1772366285)),
        Feedback(kind=FeedbackKind.SOFT, event_id="sendgrid:ZGVmZXJyZWQtNC0xMjM0NTY3OA",
                 recipient="slow@example.org", status="4.3.2",
                 diagnostic="451 4.3.2 Please try again later",
                 original_message_id="<issue-42.99887766@digest.example.org>",
                 occurred_at=at(1772366286)),
    ]


@pytest.mark.parametrize(("event", "kind"), [
    ({"event": "bounce", "type": "expired"}, FeedbackKind.SOFT),
    ({"event": "bounce", "status": "5.0.0"}, FeedbackKind.HARD),
    ({"event": "bounce", "status": "4.0.0"}, FeedbackKind.SOFT),
    ({"event": "bounce"}, FeedbackKind.UNKNOWN),
    ({"event": "dropped", "reason": "Invalid"}, FeedbackKind.HARD),
    ({"event": "dropped", "reason": "Spam Reporting Address"}, FeedbackKind.COMPLAINT),
    ({"event": "dropped", "reason": "Unsubscribed Address"}, FeedbackKind.UNKNOWN),
    ({"event": "group_unsubscribe"}, FeedbackKind.UNKNOWN),
])
def test_event_mapping(event: dict[str, Any], kind: FeedbackKind) -> None:
    [feedback] = post(events({"email": "a@example.org", "sg_event_id": "x", **event})).feedback
    assert feedback.kind is kind


@pytest.mark.parametrize("name", ["processed", "delivered", "open", "click"])
def test_events_that_are_not_failures_give_nothing(name: str) -> None:
    assert post(events({"email": "a@example.org", "event": name})).feedback == []


def test_event_without_id_gets_a_stable_content_id() -> None:
    body = events({"email": "a@example.org", "event": "dropped", "reason": "Invalid"})
    first, second = post(body).feedback[0], post(body).feedback[0]
    assert first.event_id == second.event_id
    assert first.event_id.startswith("sendgrid:sha256-")


def test_wrong_key_is_401() -> None:
    body = events()
    assert rejected(body, signed(body, key=OTHER_KEY)) == 401


@pytest.mark.parametrize("header", [SIGNATURE_HEADER, TIMESTAMP_HEADER])
def test_missing_signature_is_401(header: str) -> None:
    body = events()
    headers = signed(body)
    del headers[header]
    assert rejected(body, headers) == 401


def test_tampered_body_is_401() -> None:
    body = events()
    tampered = body.replace(b"rhys@example.net", b"rhod@example.net")
    assert rejected(tampered, signed(body)) == 401


def test_tampered_timestamp_is_401() -> None:
    body = events()
    headers = signed(body)
    headers[TIMESTAMP_HEADER] = str(int(headers[TIMESTAMP_HEADER]) + 1)
    assert rejected(body, headers) == 401


def test_garbage_signature_is_401() -> None:
    body = events()
    assert rejected(body, {**signed(body), SIGNATURE_HEADER: "%%%"}) == 401
    assert rejected(body, {**signed(body), SIGNATURE_HEADER: "AAAA"}) == 401


@pytest.mark.parametrize("offset", [-2 * 3600, 10 * 60])
def test_stale_or_future_timestamp_is_403(offset: int) -> None:
    body = events()
    assert rejected(body, signed(body, int(NOW.timestamp()) + offset)) == 403


def test_header_names_are_case_insensitive() -> None:
    body = events()
    headers = {name.lower(): value for name, value in signed(body).items()}
    assert len(post(body, headers).feedback) == 5


@pytest.mark.parametrize("body", [b"[{not json", b'{"event": "bounce"}', b"[1, 2]"])
def test_malformed_body_is_400(body: bytes) -> None:
    assert rejected(body) == 400


def test_oversized_body_is_413() -> None:
    provider = SendGridProvider(verification_key(), max_body=10)
    with pytest.raises(WebhookRejected) as info:
        provider.verify({}, b" " * 11, NOW)
    assert info.value.status == 413


def test_tolerance_is_configurable() -> None:
    body = events()
    provider = SendGridProvider(verification_key(), tolerance=timedelta(hours=3))
    assert provider.verify(signed(body, int(NOW.timestamp()) - 7200), body, NOW).feedback


def test_verification_key_may_be_pem_but_must_be_p256() -> None:
    pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = events()
    assert SendGridProvider(pem).verify(signed(body), body, NOW).feedback
    rsa_der = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    wrong = rsa_der.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError):
        SendGridProvider(base64.b64encode(wrong).decode())
    with pytest.raises(ValueError):
        SendGridProvider("not a key")
