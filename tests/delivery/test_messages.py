"""Spliced messages parse back, with every header and both parts matching the variant."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime

import pytest
from pydantic import SecretStr

from digest.delivery.messages import MessageTemplate, Recipient, token_is_splice_safe
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.render.renderer import RenderedVariant, Renderer
from digest.settings import Settings, generate_secret_key
from digest.store.models import Language
from digest.tokens import BadToken, Purpose, Tokens
from tests.conftest import TEST_SECRET_KEY
from tests.factories import sample_content as sample


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(_env_file=None, sender_name="Ymchwil / Research — Caerdydd",  # type: ignore[call-arg]
                    sender_email="digest@example.org", site_url="https://digest.example.org",
                    reply_to="editors@example.org", secret_key=SecretStr(TEST_SECRET_KEY))


@pytest.fixture(scope="module")
def variants(settings: Settings) -> dict[Language, RenderedVariant]:
    renderer = Renderer(settings)
    return {lang: renderer.render(sample(), lang) for lang in Language}


def parse(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.mark.parametrize("language", list(Language))
def test_message_parses_back_to_the_variant(settings: Settings, language: Language,
                                            variants: dict[Language, RenderedVariant]) -> None:
    variant = variants[language]
    tokens = Tokens(settings)
    template = MessageTemplate(settings, 42, variant, tokens)
    out = template.build(Recipient(7, "gwenllian@example.org", "Gwenllïan ap Ŵyn"))
    msg = parse(out.data)

    assert msg["To"].addresses[0].display_name == "Gwenllïan ap Ŵyn"
    assert msg["To"].addresses[0].addr_spec == "gwenllian@example.org"
    assert msg["From"].addresses[0].display_name == "Ymchwil / Research — Caerdydd"
    assert msg["Reply-To"] == "editors@example.org"
    assert msg["Subject"] == variant.subject
    assert msg["Message-ID"] == out.message_id == "<digest.42.7@example.org>"
    assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
    unsub_url = f"https://digest.example.org/u/{tokens.make(Purpose.UNSUBSCRIBE, 7)}"
    prefs_url = f"https://digest.example.org/p/{tokens.make(Purpose.PREFERENCES, 7)}"
    assert msg["List-Unsubscribe"] == f"<{unsub_url}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Id"] == "<digest.example.org>"
    assert msg["MIME-Version"] == "1.0"
    assert msg["Content-Language"] == {"cy": "cy", "en": "en", "both": "cy, en"}[language.value]

    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    expected_text = variant.text.replace(UNSUB_PLACEHOLDER, unsub_url.rsplit("/", 1)[1]) \
        .replace(PREFS_PLACEHOLDER, prefs_url.rsplit("/", 1)[1])
    expected_html = variant.html.replace(UNSUB_PLACEHOLDER, unsub_url.rsplit("/", 1)[1]) \
        .replace(PREFS_PLACEHOLDER, prefs_url.rsplit("/", 1)[1])
    assert parts[0].get_content().replace("\r\n", "\n") == expected_text
    assert parts[1].get_content().replace("\r\n", "\n") == expected_html
    assert unsub_url in parts[0].get_content() and prefs_url in parts[1].get_content()
    assert out.sender == "digest@example.org" and out.recipient == "gwenllian@example.org"


def test_wire_format_is_7bit_crlf_and_short_lines(settings: Settings,
                                                 variants: dict[Language, RenderedVariant]) -> None:
    template = MessageTemplate(settings, 1, variants[Language.BOTH], Tokens(settings))
    data = template.build(Recipient(123456, "a@example.org", "Siôn")).data
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    header, _, body = data.partition(b"\r\n\r\n")
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # RFC 2045 quoted-printable
    assert max(len(line) for line in header.split(b"\r\n")) <= 998
    assert b"=?utf-8?" in header  # RFC 2047 encoded words for Welsh letters


def test_only_personal_parts_differ_between_recipients(
        settings: Settings, variants: dict[Language, RenderedVariant]) -> None:
    template = MessageTemplate(settings, 1, variants[Language.CY], Tokens(settings))
    a = parse(template.build(Recipient(1, "a@example.org", "A")).data)
    b = parse(template.build(Recipient(2, "b@example.org", "B")).data)
    assert a["Subject"] == b["Subject"] and a["Message-ID"] != b["Message-ID"]
    text_a = next(a.iter_parts()).get_content()
    text_b = next(b.iter_parts()).get_content()
    assert text_a != text_b
    assert text_a.replace(str(Tokens(settings).make(Purpose.UNSUBSCRIBE, 1)), "U").replace(
        Tokens(settings).make(Purpose.PREFERENCES, 1), "P") == text_b.replace(
        Tokens(settings).make(Purpose.UNSUBSCRIBE, 2), "U").replace(
        Tokens(settings).make(Purpose.PREFERENCES, 2), "P")


def test_header_injection_through_a_name_is_neutralised(
        settings: Settings, variants: dict[Language, RenderedVariant]) -> None:
    template = MessageTemplate(settings, 1, variants[Language.EN], Tokens(settings))
    msg = parse(template.build(Recipient(1, "a@example.org", "Eve\r\nBcc: x@evil.test")).data)
    assert msg["Bcc"] is None


def test_tokens_are_bound_to_subscriber_and_purpose(settings: Settings) -> None:
    tokens = Tokens(settings)
    unsub = tokens.make(Purpose.UNSUBSCRIBE, 99)
    assert token_is_splice_safe(unsub)
    assert tokens.read(Purpose.UNSUBSCRIBE, unsub) == 99
    with pytest.raises(BadToken):
        tokens.read(Purpose.PREFERENCES, unsub)
    with pytest.raises(BadToken):
        tokens.read(Purpose.UNSUBSCRIBE, unsub.replace("99.", "98."))
    other = Tokens(settings.model_copy(update={"secret_key": SecretStr(generate_secret_key())}))
    with pytest.raises(BadToken):
        other.read(Purpose.UNSUBSCRIBE, unsub)


def test_fast_tokens_are_exactly_itsdangerous_tokens(settings: Settings) -> None:
    from itsdangerous import Signer

    secret = settings.signing_key()
    for purpose in (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES):
        reference = Signer(secret, salt=f"digest.{purpose.value}")
        for sid in (1, 42, 123456789):
            assert Tokens(settings).make(purpose, sid) == reference.sign(str(sid)).decode()
