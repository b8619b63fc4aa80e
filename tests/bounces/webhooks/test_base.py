"""digest.bounces.webhooks.base: the checks of a body every provider makes."""

from __future__ import annotations

import pytest

from digest.bounces.webhooks import WebhookRejected
from digest.bounces.webhooks.base import parse_json


@pytest.mark.parametrize("body", [
    b'"\\u0000"', b'{"id": "a\\u0000"}', b'{"\\u0000": 1}', b'{"a": [{"b": {"c\\u0000": 1}}]}',
    b'[1, 2, "x", {"y": ["\\u0000"]}]', b'{"Message": "{\\"k\\": \\"\\\\u0000\\"}"}',
])
def test_a_nul_in_any_string_or_key_is_a_400(body: bytes) -> None:
    if b"Message" in body:  # SES's inner message, parsed as the SES provider does
        inner = parse_json(body)
        assert isinstance(inner, dict)
        body = str(inner["Message"]).encode()
    with pytest.raises(WebhookRejected) as refused:
        parse_json(body)
    assert (refused.value.status, refused.value.reason) == (
        400, "body holds a NUL character (\\u0000), not text")


def test_a_lone_surrogate_keeps_its_own_reason_and_text_passes() -> None:
    with pytest.raises(WebhookRejected) as refused:
        parse_json(b'{"a": "\\ud800"}')
    assert refused.value.reason == "body holds a lone surrogate (\\uD800-\\uDFFF), not text"
    assert parse_json(b'{"a": "\\u0001 \\ud83d\\ude00 Si\\u00e2n", "b": [null, 1.5]}') == {
        "a": "\x01 \U0001f600 Siân", "b": [None, 1.5]}
