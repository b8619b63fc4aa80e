"""Editors' sessions, kept on the server: the cookie holds only a random id, the table its
SHA-256 (a copy of the database gives no live session). Logout, an idle timeout and an
absolute lifetime end a session on the server, so a copied cookie stops working too.

CSRF tokens are HMACs under the secret key: of the session id for a logged-in editor, and of
a random nonce in a short-lived cookie for the login form (a signed double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, Response
from sqlmodel import Session

from digest.settings import Settings
from digest.store.db import session_scope
from digest.store.models import EditorSession, core_table
from digest.web.pages import Services, services

COOKIE = "digest_editor"
LOGIN_COOKIE = "digest_login"
COOKIE_PATH = "/editor"  # browsers send the editor's cookies nowhere else on the site
LOGIN_PATH = "/editor/login"
LOGIN_NONCE_SECONDS = 3600
SESSIONS = core_table(EditorSession)


@dataclass(frozen=True)
class EditorLogin:
    """The editor a request comes from, and the CSRF token their forms must carry."""

    name: str
    csrf: str
    token: str  # the cookie's value (only ever compared, logged nowhere)


class NotLoggedIn(Exception):
    """Raised by `editor` for requests without a live session (they go to the login page)."""


def session_hash(token: str) -> str:
    """The stored form of a session id."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _mac(settings: Settings, purpose: str, value: str) -> str:
    key = settings.signing_key().encode()
    return hmac.new(key, f"{purpose}|{value}".encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


def start(session: Session, settings: Settings, editor: str, now: datetime) -> str:
    """A new session for `editor` (a fresh random id at every login); returns the cookie value.

    Sessions past their absolute lifetime are swept here (logins are rare, sessions few).
    """
    session.execute(sa.delete(SESSIONS).where(
        SESSIONS.c.created_at < now - timedelta(hours=settings.session_max_hours)))
    token = secrets.token_urlsafe(32)
    session.add(EditorSession(id=session_hash(token), editor=editor, created_at=now,
                              last_seen_at=now))
    return token


def find(session: Session, settings: Settings, token: str, now: datetime) -> str | None:
    """The editor of a live session (and the session's last sight moves to now), or None."""
    row = session.get(EditorSession, session_hash(token))
    if row is None or row.revoked_at is not None:
        return None
    idle = timedelta(minutes=settings.session_idle_minutes)
    lifetime = timedelta(hours=settings.session_max_hours)
    if now - row.last_seen_at >= idle or now - row.created_at >= lifetime:
        row.revoked_at = now
        return None
    row.last_seen_at = now
    return row.editor


def revoke(session: Session, token: str, now: datetime) -> None:
    """End a session on the server (logout): its cookie is refused from now on."""
    session.execute(sa.update(SESSIONS).where(SESSIONS.c.id == session_hash(token),
                                              SESSIONS.c.revoked_at.is_(None))
                    .values(revoked_at=now))


def csrf_for(settings: Settings, token: str) -> str:
    """The CSRF token bound to one editor session."""
    return _mac(settings, "editor-csrf", token)


def _same(expected: str, submitted: str) -> bool:
    # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, not a no).
    return hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "surrogatepass"))


def check_csrf(who: EditorLogin, submitted: str) -> None:
    """Refuse a form whose CSRF token is not this session's."""
    if not submitted or not _same(who.csrf, submitted):
        raise HTTPException(status_code=403)


def login_nonce(request: Request) -> tuple[str, bool]:
    """The login form's nonce from its cookie, or a new one (then True: set the cookie)."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if len(nonce) == 43 and nonce.isascii():
        return nonce, False
    return secrets.token_urlsafe(32), True


def login_csrf(settings: Settings, nonce: str) -> str:
    """The CSRF token the login form carries for `nonce`."""
    return _mac(settings, "login-csrf", nonce)


def login_csrf_ok(settings: Settings, request: Request, submitted: str) -> bool:
    """Whether a login form's token matches the nonce in its cookie."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    return bool(nonce and submitted) and _same(login_csrf(settings, nonce), submitted)


def set_login_cookie(response: Response, settings: Settings, nonce: str) -> None:
    """Send the login form's nonce (HttpOnly, SameSite=Strict, only to the login path)."""
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_NONCE_SECONDS,
                        path=settings.site_path + LOGIN_PATH,
                        httponly=True, samesite="strict", secure=settings.https)


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    """Send the session id (HttpOnly, SameSite=Strict, Secure on https, under /editor: the
    site's, after DIGEST_SITE_URL's path prefix, as the browser sees it)."""
    response.set_cookie(COOKIE, token, max_age=max(60, int(settings.session_max_hours * 3600)),
                        path=settings.site_path + COOKIE_PATH, httponly=True,
                        samesite="strict", secure=settings.https)
    response.delete_cookie(LOGIN_COOKIE, path=settings.site_path + LOGIN_PATH, httponly=True,
                           samesite="strict", secure=settings.https)


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Tell the browser to drop the session cookie."""
    response.delete_cookie(COOKIE, path=settings.site_path + COOKIE_PATH, httponly=True,
                           samesite="strict", secure=settings.https)


def editor(request: Request, svc: Annotated[Services, Depends(services)]) -> EditorLogin:
    """The logged-in editor (a FastAPI dependency); NotLoggedIn without a live session."""
    token = request.cookies.get(COOKIE, "")
    if not token or len(token) > 100:
        raise NotLoggedIn()
    with session_scope(svc.engine, write=True) as session:
        name = find(session, svc.settings, token, svc.clock())
    if name is None:
        raise NotLoggedIn()
    return EditorLogin(name, csrf_for(svc.settings, token), token)


Editor = Annotated[EditorLogin, Depends(editor)]
