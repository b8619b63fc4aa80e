"""What every route shares (FastAPI dependencies): the services, a transaction, the page
language and page rendering."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from babel import Locale, negotiate_locale
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.audience.self_service import SignupLimiter
from digest.delivery.transports.base import Transport
from digest.i18n import DOMAIN, LANGS, translations
from digest.settings import Settings
from digest.store.db import session_scope
from digest.tokens import Tokens
from digest.web.auth import csrf_token
from digest.web.links import feed_links, language_url


@dataclass
class Services:
    """What the routes need, built once per app."""

    settings: Settings
    engine: Engine
    tokens: Tokens
    transport_factory: Callable[[], Transport]
    signup_limiter: SignupLimiter
    pages: Environment

    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A transaction for one request (a FastAPI dependency body)."""
        with session_scope(self.engine, write=write) as session:
            yield session


def services(request: Request) -> Services:
    """The app's services (a FastAPI dependency)."""
    return request.app.state.services  # type: ignore[no-any-return]


def choose_language(request: Request, default: str | None = None) -> str:
    """?lang=, then the lang cookie, then the subscriber's own, then Accept-Language, then cy."""
    asked = request.query_params.get("lang") or request.cookies.get("lang")
    if asked in LANGS:
        return asked
    if default in LANGS:
        return default  # type: ignore[return-value]
    header = request.headers.get("accept-language", "")
    wanted = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",") if part]
    found = negotiate_locale(wanted, ["cy", "en"], sep="_") if wanted else None
    return Locale.parse(found).language if found else "cy"


def render(request: Request, template: str, lang: str, status: int = 200, *,
           domain: str = DOMAIN, **context: Any) -> HTMLResponse:
    """A page in `lang` from `domain`'s catalog (the editors' pages pass EDITOR_DOMAIN), with
    the language toggle, this page's other-language address and the CSRF token at hand."""
    svc = services(request)
    t = translations(lang, domain)
    site = svc.settings.site_url.rstrip("/")
    html = svc.pages.get_template(template).render(
        _=t.gettext, ngettext=t.ngettext, lang=lang, langs=LANGS, request=request,
        csrf=csrf_token(request), editor_name=request.session.get("editor"), site=site,
        public=domain == DOMAIN, switch=lambda code: language_url(request, code),
        feeds=feed_links(site, lang), **context)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax",
                            secure=svc.settings.secure_cookies)
    return response


def db(svc: Annotated[Services, Depends(services)]) -> Iterator[Session]:
    """A write transaction for the request (a FastAPI dependency)."""
    yield from svc.session(write=True)


def read_db(svc: Annotated[Services, Depends(services)]) -> Iterator[Session]:
    """A transaction for the request that only reads (takes no write lock)."""
    yield from svc.session()


Svc = Annotated[Services, Depends(services)]
# Function scope: the commit runs when the route returns, before the response is sent (by
# default FastAPI ends a yield dependency after the answer), so a 200 means committed and a
# failed commit is a 500, which a one-click unsubscriber retries.
Db = Annotated[Session, Depends(db, scope="function")]
ReadDb = Annotated[Session, Depends(read_db)]
