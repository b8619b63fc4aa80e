"""Test support for SNS: a self-signed stand-in certificate, a fake fetcher, signed messages."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from digest.bounces.webhooks import SesProvider, Verified, WebhookRejected

FIXTURES = Path(__file__).parent / "webhooks"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:eu-west-2:123456789012:digest-bounces"
CERT_URL = "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-0000000000000000.pem"


def make_cert(not_after: datetime) -> tuple[rsa.RSAPrivateKey, bytes]:
    """An RSA 2048 key and a self-signed PEM certificate standing in for SNS's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1)).not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


KEY, PEM = make_cert(NOW + timedelta(days=365))
OTHER_KEY, _ = make_cert(NOW + timedelta(days=365))


class FakeFetcher:
    """Returns a fixed PEM and remembers every URL it was asked for."""

    def __init__(self, pem: bytes = PEM) -> None:
        self.pem = pem
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        return self.pem


def canonical(message: dict[str, Any]) -> bytes:
    """The SNS string to sign, written from the SNS documentation independently of the code."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode()


def sign(message: dict[str, Any], key: rsa.RSAPrivateKey = KEY) -> dict[str, Any]:
    """Add SignatureVersion's signature over the message, as SNS would."""
    algorithm = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()
    signature = key.sign(canonical(message), padding.PKCS1v15(), algorithm)
    return {**message, "Signature": base64.b64encode(signature).decode()}


def notification(fixture: str = "ses_bounce.json", **changes: Any) -> dict[str, Any]:
    """An SNS Notification envelope carrying an SES fixture, signed."""
    message = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": (FIXTURES / fixture).read_text(),
        "Timestamp": "2026-03-01T11:58:03.500Z",
        "SignatureVersion": "2",
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.eu-west-2.amazonaws.com/?Action=Unsubscribe&x=1",
    }
    return sign({**message, **changes})


def confirmation(kind: str = "SubscriptionConfirmation", **changes: Any) -> dict[str, Any]:
    """A signed SNS SubscriptionConfirmation (or UnsubscribeConfirmation)."""
    message = {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a7",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\nTo confirm...",
        "SubscribeURL": "https://sns.eu-west-2.amazonaws.com/?Action=ConfirmSubscription&T=1",
        "Timestamp": "2026-03-01T11:59:00.000Z",
        "SignatureVersion": "1",
        "SigningCertURL": CERT_URL,
    }
    return sign({**message, **changes})


def post(
    message: dict[str, Any] | bytes,
    fetcher: FakeFetcher | None = None,
    headers: dict[str, str] | None = None,
) -> Verified:
    """Verify a request through a provider configured for TOPIC."""
    provider = SesProvider(TOPIC, fetcher or FakeFetcher())
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return provider.verify(headers or {}, body, NOW)


def rejected(message: dict[str, Any] | bytes, fetcher: FakeFetcher | None = None) -> int:
    """The HTTP status a request is refused with."""
    with pytest.raises(WebhookRejected) as info:
        post(message, fetcher)
    return info.value.status
