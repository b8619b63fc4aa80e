"""Keyed hashes (HMAC-SHA256) of addresses and client IPs, one key per purpose.

Each key is derived from DIGEST_SECRET_KEY and a purpose label, so a hash made for the
suppression list cannot be compared with one made for IP addresses, and without the secret
none can be recomputed from a list of known addresses. Changing the secret key makes the
stored hashes unmatchable (README "Subscribers and privacy").
"""

from __future__ import annotations

import hashlib
import hmac

from digest.audience.address import stored_form
from digest.settings import Settings

SUPPRESSION = "digest.suppression.v1"
CLIENT_IP = "digest.client-ip.v1"


class Keyed:
    """Makes the keyed hashes; built once from the settings."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.signing_key().encode("utf-8")
        self._keys = {label: hmac.digest(secret, label.encode("ascii"), "sha256")
                      for label in (SUPPRESSION, CLIENT_IP)}

    def address(self, email: str) -> str:
        """The suppression-list hash of an address, typed in any form: its stored form is
        hashed (address.stored_form), so `a@bücher.example` is `a@xn--bcher-kva.example`."""
        value = stored_form(email).encode("utf-8")
        return hmac.new(self._keys[SUPPRESSION], value, hashlib.sha256).hexdigest()

    def ip(self, address: str) -> str:
        """The hash of a client IP address, as kept in a consent record when enabled."""
        return hmac.new(self._keys[CLIENT_IP], address.encode("utf-8"),
                        hashlib.sha256).hexdigest()
