"""The SNS envelope: signature, certificate URL, topic, freshness and body checks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from digest.bounces.webhooks import SesProvider, WebhookRejected
from tests.bounces.sns_support import (
    CERT_URL,
    NOW,
    OTHER_KEY,
    TOPIC,
    FakeFetcher,
    confirmation,
    make_cert,
    notification,
    post,
    rejected,
    sign,
)


def test_wrong_key_is_401() -> None:
    assert rejected(sign(notification(), key=OTHER_KEY)) == 401


@pytest.mark.parametrize("field", ["Signature", "SigningCertURL"])
def test_missing_signature_is_401(field: str) -> None:
    message = notification()
    del message[field]
    assert rejected(message) == 401


@pytest.mark.parametrize("field", ["Message", "MessageId", "Timestamp", "Type"])
def test_tampered_body_is_401(field: str) -> None:
    message = notification()
    changed = {
        "Message": message["Message"].replace("Permanent", "Transient"),
        "MessageId": "00000000-0000-0000-0000-000000000000",
        "Timestamp": "2026-03-01T11:58:04.500Z",
        "Type": "Notification",
    }[field]
    if field == "Type":  # a confirmation re-labelled as a notification
        message = {**confirmation(), "Type": "Notification"}
    else:
        message[field] = changed
    assert rejected(message) == 401


def test_garbage_signature_is_401() -> None:
    assert rejected({**notification(), "Signature": "not base64!"}) == 401
    assert rejected({**notification(), "SignatureVersion": "3"}) == 401


@pytest.mark.parametrize("timestamp", ["2026-03-01T10:59:00.000Z", "2026-03-01T12:06:00.000Z"])
def test_stale_or_future_timestamp_is_403(timestamp: str) -> None:
    fetcher = FakeFetcher()
    assert rejected(notification(Timestamp=timestamp), fetcher) == 403
    assert fetcher.calls == []


@pytest.mark.parametrize("url", [
    "https://sns.evil.com/cert.pem",
    "http://sns.eu-west-2.amazonaws.com/cert.pem",
    "https://sns.eu-west-2.amazonaws.com.evil.com/cert.pem",
    "https://sns.eu-west-2.amazonaws.com@evil.com/cert.pem",
    "https://sns.eu-west-2.amazonaws.com:8443/cert.pem",
    "https://evil.com/sns.eu-west-2.amazonaws.com/cert.pem",
    "https://sns.eu-west-2.amazonaws.com/cert.txt",
    "https://s3.eu-west-2.amazonaws.com/cert.pem",
    "https://sns.eu-west-2.amazonaws.com\\@evil.com/cert.pem",
    "file:///etc/passwd",
    "https://sns.eu-west-\u0662.amazonaws.com/cert.pem",  # an Arabic-Indic 2: no SNS host
])
def test_certificate_url_not_on_sns_is_403_without_fetching(url: str) -> None:
    fetcher = FakeFetcher()
    assert rejected(notification(SigningCertURL=url), fetcher) == 403
    assert fetcher.calls == []


def test_china_region_certificate_host_is_allowed() -> None:
    url = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem"
    fetcher = FakeFetcher()
    assert len(post(notification(SigningCertURL=url), fetcher).feedback) == 2
    assert fetcher.calls == [url]


def test_wrong_topic_is_403_without_fetching() -> None:
    fetcher = FakeFetcher()
    other = "arn:aws:sns:eu-west-2:999999999999:someone-else"
    assert rejected(notification(TopicArn=other), fetcher) == 403
    assert fetcher.calls == []


def test_several_topics_can_be_allowed() -> None:
    complaints = "arn:aws:sns:eu-west-2:123456789012:digest-complaints"
    provider = SesProvider([TOPIC, complaints], FakeFetcher())
    body = json.dumps(notification(TopicArn=complaints)).encode()
    assert len(provider.verify({}, body, NOW).feedback) == 2


def test_subscribe_url_off_sns_is_403() -> None:
    assert rejected(confirmation(SubscribeURL="https://evil.example/confirm")) == 403


def test_certificate_is_fetched_once() -> None:
    fetcher = FakeFetcher()
    provider = SesProvider(TOPIC, fetcher)
    for message in (notification(), confirmation()):
        provider.verify({}, json.dumps(message).encode(), NOW)
    assert fetcher.calls == [CERT_URL]


def test_unreachable_certificate_is_503_and_expired_one_401() -> None:
    class Down(FakeFetcher):
        def __call__(self, url: str) -> bytes:
            raise OSError("connection refused")

    assert rejected(notification(), Down()) == 503
    key, pem = make_cert(NOW - timedelta(hours=1))
    assert rejected(sign(notification(), key=key), FakeFetcher(pem)) == 401
    assert rejected(notification(), FakeFetcher(b"not a certificate")) == 401


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"\xff\xfe", b'{"Type": "Other"}'])
def test_malformed_body_is_400(body: bytes) -> None:
    assert rejected(body) == 400


def test_message_type_header_must_match_the_body() -> None:
    with pytest.raises(WebhookRejected) as info:
        post(notification(), headers={"X-Amz-Sns-Message-Type": "SubscriptionConfirmation"})
    assert info.value.status == 400


def test_oversized_body_is_413() -> None:
    with pytest.raises(WebhookRejected) as info:
        SesProvider(TOPIC, FakeFetcher(), max_body=100).verify({}, b" " * 101, NOW)
    assert info.value.status == 413


def test_signature_version_1_sha1_is_accepted() -> None:
    assert len(post(notification(SignatureVersion="1")).feedback) == 2


def test_subject_is_part_of_the_signed_string_when_present() -> None:
    signed = notification(Subject="Amazon SES Email Event Notification")
    assert len(post(signed).feedback) == 2
    assert rejected({**signed, "Subject": "changed"}) == 401
