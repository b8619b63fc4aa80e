"""Tokens: each has exactly one accepted spelling, and any other is refused."""

from __future__ import annotations

import base64
import string

import pytest

from digest.settings import Settings
from digest.tokens import BadToken, ExpiredToken, Purpose, Tokens

ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def _respellings(token: str) -> list[str]:
    """Every token that differs from `token` in one signature character."""
    head, _, signature = token.rpartition(".")
    return [f"{head}.{signature[:i]}{c}{signature[i + 1:]}"
            for i in range(len(signature)) for c in ALPHABET if c != signature[i]]


@pytest.mark.parametrize("purpose", list(Purpose))
def test_every_one_character_change_is_refused(settings: Settings, purpose: Purpose) -> None:
    """Changing any character of the signature to any other, including the spare-bit twins
    of the last character that base64 decodes to the same bytes, is refused."""
    tokens = Tokens(settings)
    token = tokens.make(purpose, 36)
    assert tokens.read(purpose, token) == 36
    twins = [t for t in _respellings(token)
             if base64.urlsafe_b64decode(t.rpartition(".")[2] + "=")
             == base64.urlsafe_b64decode(token.rpartition(".")[2] + "=")]
    assert len(twins) == 3  # 27 characters for 20 bytes: 2 spare bits in the last one
    for altered in _respellings(token):
        with pytest.raises(BadToken):
            tokens.read(purpose, altered)


def test_expiring_tokens_have_one_spelling(settings: Settings) -> None:
    """The same holds for confirmation tokens, which also carry a timestamp."""
    tokens = Tokens(settings)
    token = tokens.make_expiring(36)
    assert tokens.read_expiring(token, 3600) == 36
    for altered in _respellings(token):
        with pytest.raises(BadToken) as caught:
            tokens.read_expiring(altered, 3600)
        assert not isinstance(caught.value, ExpiredToken)


@pytest.mark.parametrize("bad", ["", ".", "36.", "36.a", "36.a b", "36.ŵŷ", "36.====",
                                 "36.+/+/", "nonsense", "36.forged", "36" + "." * 40])
def test_garbage_is_a_bad_token_not_an_exception(settings: Settings, bad: str) -> None:
    """Malformed input of any shape raises BadToken only."""
    tokens = Tokens(settings)
    with pytest.raises(BadToken):
        tokens.read(Purpose.UNSUBSCRIBE, bad)
    with pytest.raises(BadToken):
        tokens.read_expiring(bad, 3600)


def test_a_token_for_one_purpose_is_refused_for_another(settings: Settings) -> None:
    """The purpose is the salt: an unsubscribe token is no preferences token."""
    tokens = Tokens(settings)
    token = tokens.make(Purpose.UNSUBSCRIBE, 5)
    with pytest.raises(BadToken):
        tokens.read(Purpose.PREFERENCES, token)


@pytest.mark.parametrize("value", ["+5", " 5", "5 ", "5_0", "05", "0", "\u0665", "2147483648",
                                   "99999999999999999999", "-1", "1e3", ""])
def test_a_signed_value_that_is_not_a_row_id_is_refused(settings: Settings, value: str) -> None:
    """Only the key can sign such a value, but a genuine signature on it must still be a
    refusal, not an id that `int()` accepts or the database cannot hold (a 500)."""
    from itsdangerous import Signer, TimestampSigner

    tokens, secret = Tokens(settings), settings.signing_key()
    plain = Signer(secret, salt="digest.preferences").sign(value).decode()
    timed = TimestampSigner(secret, salt="digest.confirm").sign(value).decode()
    with pytest.raises(BadToken):
        tokens.read(Purpose.PREFERENCES, plain)
    with pytest.raises(BadToken):
        tokens.read_expiring(timed, 3600)


def test_read_signed_gives_the_signing_time(settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    tokens = Tokens(settings)
    subscriber_id, signed = tokens.read_signed(tokens.make_expiring(2_147_483_647), 60)
    assert subscriber_id == 2_147_483_647
    assert abs(datetime.now(UTC) - signed) < timedelta(seconds=2) and signed.tzinfo is not None


@pytest.mark.parametrize(("text", "expected"), [
    ("1", 1), ("2147483647", 2_147_483_647), ("2147483648", None), ("0", None), ("07", None),
    ("+5", None), (" 5", None), ("5_0", None), ("\u0665", None), ("\u00b9", None), ("", None),
    ("9" * 30, None),
])
def test_row_id_takes_only_what_an_integer_column_holds(text: str, expected: int | None) -> None:
    """One rule for ids in tokens and in the web's path segments (pages.parse_id)."""
    from digest.tokens import row_id

    assert row_id(text) == expected
