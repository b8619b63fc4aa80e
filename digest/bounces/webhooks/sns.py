"""Amazon SNS HTTP/S messages: the checks that make one trustworthy, in the order they run.

1. `Type` is a known message type (and agrees with the `x-amz-sns-message-type` header).
2. `SigningCertURL` is https on `sns.<region>.amazonaws.com[.cn]`: refused (403) *before*
   anything is fetched, so the endpoint cannot be used to make us fetch arbitrary URLs.
3. `TopicArn` is one we subscribed to (403).
4. `Timestamp` is within the freshness window (403): SNS signs it, so a captured message
   cannot be refreshed, and a retry keeps its MessageId for the caller's deduplication.
5. The RSA signature (SignatureVersion 1 = SHA1, 2 = SHA256) over the documented fields
   verifies with the certificate's key (401).

The certificate is fetched over https from the checked host (TLS authenticates the host);
it is not chain-validated here.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from digest.bounces.webhooks import fields
from digest.bounces.webhooks.base import (
    WebhookRejected,
    base64_bytes,
    check_fresh,
    header,
    utc,
)

_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = (
    "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
)
SIGNED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Notification": _NOTIFICATION_FIELDS,
    "SubscriptionConfirmation": _CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _CONFIRMATION_FIELDS,
}
_HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}\.amazonaws\.com(?:\.cn)?")
_MAX_CERT_BYTES = 64 * 1024

Fetcher = Callable[[str], bytes]


def is_sns_url(url: str, *, pem: bool = False) -> bool:
    """Whether `url` is https on an SNS regional host (and, with `pem`, names a .pem file)."""
    if any(c.isspace() or c == "\\" for c in url):
        return False
    parts = urlsplit(url)
    # netloc must be exactly the host: no userinfo ("sns...@evil"), no port, no suffix.
    if parts.scheme != "https" or not _SNS_HOST.fullmatch(parts.netloc):
        return False
    return parts.path.endswith(".pem") if pem else True


def urllib_fetch(url: str) -> bytes:
    """Fetch a signing certificate over https (the production fetcher; never called at import)."""
    if not is_sns_url(url, pem=True):
        raise ValueError("not an SNS certificate URL")
    with urllib.request.urlopen(url, timeout=5) as response:
        data: bytes = response.read(_MAX_CERT_BYTES + 1)
    if len(data) > _MAX_CERT_BYTES:
        raise OSError("certificate too large")
    return data


def urllib_confirm(url: str) -> bytes:
    """GET an SNS SubscribeURL to confirm a subscription (the production confirmer)."""
    if not is_sns_url(url):
        raise ValueError("not an SNS URL")
    with urllib.request.urlopen(url, timeout=5) as response:
        data: bytes = response.read(_MAX_CERT_BYTES)
    return data


class CertificateCache:
    """Signing certificates by URL, fetched once each; the oldest is dropped past `size`."""

    def __init__(self, fetch: Fetcher, size: int = 16) -> None:
        self._fetch = fetch
        self._size = size
        self._certs: dict[str, x509.Certificate] = {}

    def get(self, url: str) -> x509.Certificate:
        """The certificate at `url` (host already checked), fetching it on first use."""
        cert = self._certs.get(url)
        if cert is not None:
            return cert
        try:
            pem = self._fetch(url)
        except OSError:
            raise WebhookRejected(503, "signing certificate unavailable") from None
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise WebhookRejected(401, "bad signing certificate") from None
        if len(self._certs) >= self._size:
            self._certs.pop(next(iter(self._certs)))
        self._certs[url] = cert
        return cert


def string_to_sign(message: Mapping[str, object]) -> bytes:
    """The canonical bytes SNS signs: each signed field as "Name\\nvalue\\n", in order."""
    kind = fields.text(message, "Type") or ""
    out: list[str] = []
    for name in SIGNED_FIELDS[kind]:
        value = message.get(name)
        if name == "Subject" and value is None:
            continue  # signed only when present
        if not isinstance(value, str):
            raise WebhookRejected(400, "SNS message lacks a signed field")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


def check_signature(message: Mapping[str, object], cert: x509.Certificate, now: datetime) -> None:
    """Refuse with 401 unless the message's signature verifies with `cert`'s RSA key."""
    now = utc(now)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise WebhookRejected(401, "signing certificate not valid now")
    key = cert.public_key()
    algorithm = _HASHES.get(fields.text(message, "SignatureVersion") or "")
    signature = fields.text(message, "Signature")
    if not isinstance(key, rsa.RSAPublicKey) or algorithm is None or not signature:
        raise WebhookRejected(401, "missing or unsupported signature")
    raw = base64_bytes(signature, "bad signature")
    try:
        key.verify(raw, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise WebhookRejected(401, "bad signature") from None


def verify_message(
    message: Mapping[str, object],
    headers: Mapping[str, str],
    now: datetime,
    *,
    topic_arns: Collection[str],
    tolerance: timedelta,
    certificates: CertificateCache,
) -> str:
    """Run every check on a decoded SNS message and return its `Type`, or raise."""
    kind = fields.text(message, "Type")
    if kind is None or kind not in SIGNED_FIELDS:
        raise WebhookRejected(400, "unknown SNS message type")
    declared = header(headers, "x-amz-sns-message-type")
    if declared is not None and declared != kind:
        raise WebhookRejected(400, "SNS message type header disagrees with body")
    cert_url = fields.text(message, "SigningCertURL")
    if not cert_url or not fields.text(message, "Signature"):
        raise WebhookRejected(401, "missing signature")
    if not is_sns_url(cert_url, pem=True):
        raise WebhookRejected(403, "signing certificate URL not allowed")
    if fields.text(message, "TopicArn") not in topic_arns:
        raise WebhookRejected(403, "topic not allowed")
    signed_at = fields.from_iso(message.get("Timestamp"))
    if signed_at is None:
        raise WebhookRejected(400, "bad SNS timestamp")
    check_fresh(signed_at, now, tolerance)
    check_signature(message, certificates.get(cert_url), now)
    return kind
