"""Editors' passwords (scrypt), the account list, and the login check with its throttle."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from functools import cache

from digest.audience import throttle
from digest.settings import Settings
from digest.store.models import ThrottleScope

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_NAME = 200
MAX_PASSWORD = 1024  # scrypt's cost does not depend on it, but there is no need for more


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash`, for DIGEST_EDITOR_ACCOUNTS."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against a stored hash."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8", "surrogatepass"),
                             salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except ValueError:
        return False


@cache
def _dummy_hash() -> str:
    """A hash no password is known for, made once: unknown names are checked against it."""
    return hash_password(secrets.token_urlsafe(32))


def accounts(settings: Settings) -> dict[str, str]:
    """Editor name -> password hash, from the settings."""
    out = {}
    for entry in filter(None, (e.strip() for e in settings.editor_accounts.split(","))):
        name, _, stored = entry.partition(":")
        out[name.strip()] = stored.strip()
    return out


def check_login(settings: Settings, name: str, password: str) -> bool:
    """Whether the name and password match an editor account.

    An unknown name costs exactly what a known one does: one scrypt verification, here
    against a dummy hash, so the time taken does not tell which names exist.
    """
    stored = accounts(settings).get(name)
    ok = verify_password(password[:MAX_PASSWORD], stored or _dummy_hash())
    return ok and stored is not None


def login_limits(settings: Settings) -> tuple[throttle.Limit, throttle.Limit]:
    """Failed logins per account name and per client address, in one window."""
    window = timedelta(minutes=settings.login_window_minutes)
    return (throttle.Limit(ThrottleScope.LOGIN_ACCOUNT, settings.login_max_failures, window),
            throttle.Limit(ThrottleScope.LOGIN_CLIENT, settings.login_max_failures, window))


def account_key(name: str) -> str:
    """The throttle key of an account name (as typed, case-folded)."""
    return throttle.digest_key(name.strip().casefold())
