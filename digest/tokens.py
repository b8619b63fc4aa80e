"""HMAC-signed tokens bound to a subscriber and a purpose (itsdangerous)."""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
import re
from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, Signer, TimestampSigner

from digest.settings import Settings

MAX_ID = 2**31 - 1  # the largest id a database integer column holds
# A number as our links and tokens write it: ASCII digits, no sign, space, "_" or leading zero.
ASCII_NUMBER = re.compile("0|[1-9][0-9]{0,9}")


class Purpose(enum.StrEnum):
    """What a token may be used for; a token for one purpose is refused for another."""

    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    CONFIRM = "confirm"  # double opt-in; expires
    PRIVACY = "privacy"  # a subscriber's own export and erase (digest.web.privacy); expires


class BadToken(ValueError):
    """A forged, altered or other-purpose token."""


class ExpiredToken(BadToken):
    """A genuine token past its lifetime."""


class Tokens:
    """Makes and checks tokens; one signer per purpose (the purpose is the salt)."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.signing_key()  # refuses a missing, public or weak key
        self._signers = {p: Signer(secret, salt=f"digest.{p.value}") for p in Purpose}
        # make() runs once per subscriber and message: sign with keys derived once. The tokens
        # are exactly itsdangerous' (HMAC-SHA1, URL-safe base64, no padding); read() checks them
        # with itsdangerous itself.
        self._keys = {p: signer.derive_key() for p, signer in self._signers.items()}
        self._timed = {p: TimestampSigner(secret, salt=f"digest.{p.value}")
                       for p in (Purpose.CONFIRM, Purpose.PRIVACY)}

    def make(self, purpose: Purpose, subscriber_id: int) -> str:
        """A URL-safe token such as `17.Ab3...` (alphanumerics, `-`, `_` and `.` only)."""
        value = str(subscriber_id).encode("ascii")
        mac = hmac.digest(self._keys[purpose], value, "sha1")
        return f"{subscriber_id}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode('ascii')}"

    def read(self, purpose: Purpose, token: str) -> int:
        """The subscriber id in a valid token; raises BadToken otherwise."""
        _refuse_non_canonical(token)
        try:
            return _subscriber_id(self._signers[purpose].unsign(token))
        except (BadSignature, UnicodeError) as exc:
            raise BadToken(str(exc)) from exc

    def make_expiring(self, subscriber_id: int, purpose: Purpose = Purpose.CONFIRM) -> str:
        """A confirmation (or privacy) token that carries its signing time."""
        return self._timed[purpose].sign(str(subscriber_id)).decode("ascii")

    def read_expiring(self, token: str, max_age_seconds: float,
                      purpose: Purpose = Purpose.CONFIRM) -> int:
        """The subscriber id of an expiring token younger than `max_age_seconds`."""
        return self.read_signed(token, max_age_seconds, purpose)[0]

    def read_signed(self, token: str, max_age_seconds: float,
                    purpose: Purpose = Purpose.CONFIRM) -> tuple[int, datetime]:
        """The subscriber id of an expiring token younger than `max_age_seconds`, and when it
        was signed (to the second, UTC)."""
        _refuse_non_canonical(token)
        try:
            value, signed = self._timed[purpose].unsign(
                token, max_age=int(max_age_seconds), return_timestamp=True)
        except SignatureExpired as exc:
            raise ExpiredToken(str(exc)) from exc
        except (BadSignature, UnicodeError) as exc:
            raise BadToken(str(exc)) from exc
        return _subscriber_id(value), signed


def row_id(text: str) -> int | None:
    """`text` as a row id (1..MAX_ID in ASCII digits), or None: `int()` would also take `+5`,
    ` 5`, `5_0`, other scripts' digits ("¹", "١") and ids no integer column holds."""
    if not ASCII_NUMBER.fullmatch(text) or not 1 <= int(text) <= MAX_ID:
        return None
    return int(text)


def _subscriber_id(value: bytes) -> int:
    """The subscriber id a signed value names; BadToken if it names none."""
    found = row_id(value.decode("ascii", "replace"))
    if found is None:
        raise BadToken("the token does not name a subscriber id")
    return found


def _refuse_non_canonical(token: str) -> None:
    """Raise BadToken unless the signature is spelled as make() spells it.

    A 20-byte MAC is 27 base64 characters and the last one has 2 spare bits, which base64
    decoding ignores: without this check each token has four accepted spellings, and 3 of
    the 63 other values of its last character still read as the genuine token.
    """
    signature = token.rpartition(".")[2]
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadToken("the signature is not URL-safe base64") from exc
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != signature:
        raise BadToken("the signature is not in its canonical spelling")
