"""HMAC-signed tokens bound to a subscriber and a purpose (itsdangerous)."""

from __future__ import annotations

import enum

from itsdangerous import BadSignature, Signer

from digest.settings import Settings


class Purpose(enum.StrEnum):
    """What a token may be used for; a token for one purpose is refused for another."""

    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


class BadToken(ValueError):
    """A forged, altered or other-purpose token."""


class Tokens:
    """Makes and checks tokens; one signer per purpose (the purpose is the salt)."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.secret_key.get_secret_value()
        self._signers = {p: Signer(secret, salt=f"digest.{p.value}") for p in Purpose}

    def make(self, purpose: Purpose, subscriber_id: int) -> str:
        """A URL-safe token such as `17.Ab3...` (alphanumerics, `-`, `_` and `.` only)."""
        return self._signers[purpose].sign(str(subscriber_id)).decode("ascii")

    def read(self, purpose: Purpose, token: str) -> int:
        """The subscriber id in a valid token; raises BadToken otherwise."""
        try:
            value = self._signers[purpose].unsign(token)
            return int(value)
        except (BadSignature, ValueError, UnicodeError) as exc:
            raise BadToken(str(exc)) from exc
