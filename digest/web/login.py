"""The editors' login and logout: server-side sessions, login CSRF and the login throttle."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from digest.audience import throttle
from digest.i18n import EDITOR_DOMAIN, N_, translations
from digest.store.db import session_scope
from digest.store.models import ThrottleScope
from digest.web import sessions
from digest.web.auth import MAX_NAME, account_key, check_login, login_limits
from digest.web.pages import (
    Router,
    Svc,
    choose_language,
    client_address,
    commit,
    render,
    site_redirect,
)
from digest.web.sessions import Editor

router = Router(prefix="/editor")
EXPIRED = N_("The form had expired or was not ours. Please log in again.")
WRONG = N_("Wrong name or password.")


def _form(request: Request, svc: Svc, status: int = 200, error: str | None = None,
          headers: dict[str, str] | None = None, minutes: int | None = None) -> Response:
    """The login page, with `error` (a catalog string) or, given `minutes`, the wait, said in
    the page's language."""
    nonce, new = sessions.login_nonce(request)
    lang = choose_language(request)
    t = translations(lang, EDITOR_DOMAIN)
    said = None
    if minutes is not None:
        said = t.ngettext("Too many failed logins. Try again in {n} minute.",
                          "Too many failed logins. Try again in {n} minutes.",
                          minutes).format(n=minutes)
    elif error is not None:
        said = t.gettext(error)
    response = render(request, "login.html.j2", lang, status=status, headers=headers,
                      domain=EDITOR_DOMAIN, error=said,
                      csrf=sessions.login_csrf(svc.settings, nonce))
    if new:
        sessions.set_login_cookie(response, svc.settings, nonce)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, svc: Svc) -> Response:
    """The login page."""
    return _form(request, svc)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, svc: Svc, name: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    """Check the credentials and start a new session (a new id: nothing carries over).

    Every attempt is counted before the password is checked, per account name and per
    client address, and taken back if it succeeds: parallel guesses cannot pass the limit.
    """
    settings = svc.settings
    if not sessions.login_csrf_ok(settings, request, csrf):
        return _form(request, svc, status=403, error=EXPIRED)
    name = name.strip()[:MAX_NAME]
    per_account, per_client = login_limits(settings)
    now = svc.clock()
    with session_scope(svc.engine, write=True) as session:
        wait, hits = throttle.take(session, [(per_account, account_key(name)),
                                             (per_client, throttle.digest_key(
                                                 client_address(request)))], now)
        commit(session)
    if wait is not None:
        return _form(request, svc, status=429, headers={"Retry-After": str(wait)},
                     minutes=math.ceil(wait / 60))
    if not check_login(settings, name, password):
        return _form(request, svc, status=401, error=WRONG)
    with session_scope(svc.engine, write=True) as session:
        throttle.forget(session, hits)
        throttle.clear(session, ThrottleScope.LOGIN_ACCOUNT, account_key(name))
        if old := request.cookies.get(sessions.COOKIE):
            sessions.revoke(session, old, now)
        token = sessions.start(session, settings, name, now)
        commit(session)
    response = site_redirect(settings, "/editor")
    sessions.set_session_cookie(response, settings, token)
    return response


@router.post("/logout")
def logout(who: Editor, svc: Svc, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session on the server and drop its cookie."""
    sessions.check_csrf(who, csrf)
    with session_scope(svc.engine, write=True) as session:
        sessions.revoke(session, who.token, svc.clock())
        commit(session)
    response = site_redirect(svc.settings, sessions.LOGIN_PATH)
    sessions.clear_session_cookie(response, svc.settings)
    return response
