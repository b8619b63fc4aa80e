"""DKIM signatures verified with dkimpy against the public key; the staging redirect."""

from __future__ import annotations

import base64
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from digest.delivery.finish import Finisher
from digest.delivery.messages import MessageTemplate, Recipient
from digest.delivery.transports.base import Outgoing
from digest.render.renderer import Renderer
from digest.settings import Settings
from digest.store.models import Language
from digest.tokens import Tokens
from tests.factories import sample_content as sample


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("dkim") / "private.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def built(settings: Settings) -> Outgoing:
    variant = Renderer(settings).render(sample(), Language.BOTH)
    message = MessageTemplate(settings, 5, variant, Tokens(settings)).build(
        Recipient(3, "gwen@example.org", "Gwen ap Ŵyn"))
    return Finisher(settings).finish(message)


def test_dkim_signature_verifies_and_covers_the_unsubscribe_headers(
        settings: Settings, keypair: tuple[Path, bytes]) -> None:
    path, txt = keypair
    signing = settings.model_copy(update={"dkim_selector": "digest2026",
                                          "dkim_domain": "example.org",
                                          "dkim_private_key_path": path})
    out = built(signing)
    data = out.data
    assert out.wire is not None and out.wire.startswith(b"DKIM-Signature:")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"digest2026._domainkey.example.org."
        return txt

    assert dkim.verify(data, dnsfunc=dns)
    header = message_from_bytes(data, policy=default)["DKIM-Signature"].replace(" ", "")
    signed = {h.lower() for h in header.split("h=")[1].split(";")[0].split(":")}
    assert {b"list-unsubscribe", b"list-unsubscribe-post", b"from", b"subject", b"date",
            b"message-id"} <= {h.encode() for h in signed}
    assert "d=example.org" in header and "s=digest2026" in header
    # Any change to a signed header or the body breaks the signature.
    tampered = data.replace(b"List-Unsubscribe: <https://", b"List-Unsubscribe: <http://")
    assert tampered != data and not dkim.verify(tampered, dnsfunc=dns)


def test_without_a_key_nothing_is_signed(settings: Settings) -> None:
    out = built(settings.model_copy(update={"dkim_selector": None}))
    assert b"DKIM-Signature" not in out.data


def test_redirect_keeps_the_original_recipient_in_a_header(settings: Settings) -> None:
    staging = settings.model_copy(update={"redirect_all_to": "qa@example.org"})
    variant = Renderer(staging).render(sample(), Language.EN)
    message = MessageTemplate(staging, 5, variant, Tokens(staging)).build(
        Recipient(3, "gwen@example.org", "Gwen"))
    out = Finisher(staging).finish(message)
    assert out.recipient == "qa@example.org"
    parsed = message_from_bytes(out.data, policy=default)
    assert parsed["X-Digest-Original-To"] == "gwen@example.org"
    assert parsed["To"].addresses[0].addr_spec == "gwen@example.org"
    assert Finisher(staging, redirect=False).finish(message) is message


def test_a_pkcs8_key_signs_and_a_bad_key_is_a_setting_error(
        settings: Settings, tmp_path: Path) -> None:
    from digest.settings import SettingInvalid

    pkcs8 = tmp_path / "pkcs8.pem"
    pkcs8.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048)
                      .private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    public_only = tmp_path / "public.pem"
    public_only.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    for path, works in ((pkcs8, True), (tmp_path / "nowhere.pem", False),
                        (tmp_path, False), (public_only, False)):
        signing = settings.model_copy(update={"dkim_selector": "s",
                                              "dkim_private_key_path": path})
        if works:
            assert built(signing).data.startswith(b"DKIM-Signature:")
            continue
        with pytest.raises(SettingInvalid) as info:
            Finisher(signing)
        assert info.value.field == "dkim_private_key_path" and str(path) in str(info.value)


def test_a_key_too_short_for_receivers_or_of_another_type_is_refused(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 512-bit RSA key signed every message, and RFC 8301's receivers ignored each
    signature; an Ed25519 key is one line too (dkimpy's RSA signing cannot use it)."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from digest.delivery import finish
    from digest.settings import SettingInvalid

    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048)
                        .private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    edwards = tmp_path / "ed25519.pem"
    edwards.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(SettingInvalid, match="not a PEM RSA private key"):
        Finisher(settings.model_copy(update={"dkim_selector": "s",
                                             "dkim_private_key_path": edwards}))
    monkeypatch.setattr(finish, "MIN_KEY_BITS", 4096)  # cryptography makes none under 1024
    with pytest.raises(SettingInvalid) as info:
        Finisher(settings.model_copy(update={"dkim_selector": "s",
                                             "dkim_private_key_path": rsa_key}))
    assert str(info.value) == (f"setting DIGEST_DKIM_PRIVATE_KEY_PATH: {rsa_key}: a 2048-bit "
                               "key; receivers ignore signatures made with fewer than 4096 "
                               "bits (RFC 8301): use 2048")
