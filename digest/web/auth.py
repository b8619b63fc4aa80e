"""Editors' passwords (scrypt), the session login, and CSRF tokens for every editor form."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from fastapi import HTTPException, Request

from digest.settings import Settings

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


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
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except ValueError:
        return False


def accounts(settings: Settings) -> dict[str, str]:
    """Editor name -> password hash, from the settings."""
    out = {}
    for entry in filter(None, (e.strip() for e in settings.editor_accounts.split(","))):
        name, _, stored = entry.partition(":")
        out[name.strip()] = stored.strip()
    return out


def check_login(settings: Settings, name: str, password: str) -> bool:
    """Whether the name and password match an editor account."""
    stored = accounts(settings).get(name)
    if stored is None:
        verify_password(password, hash_password("timing"))  # same cost for unknown names
        return False
    return verify_password(password, stored)


def csrf_token(request: Request) -> str:
    """This session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a form whose CSRF token does not match the session's."""
    expected = request.session.get("csrf")
    if not expected or not submitted or not hmac.compare_digest(str(expected), submitted):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")


class NotLoggedIn(Exception):
    """Raised by `editor` for requests without a logged-in editor."""


def editor(request: Request) -> str:
    """The logged-in editor's name (a FastAPI dependency)."""
    name = request.session.get("editor")
    if not name:
        raise NotLoggedIn()
    return str(name)
