"""The FastAPI application: shared services, page rendering, language choice, error pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from babel import Locale, negotiate_locale
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from digest.db import engine_from, session_scope, upgrade
from digest.i18n import N_, translations
from digest.settings import Settings
from digest.subscriptions import RateLimiter
from digest.tokens import BadToken, Tokens
from digest.transport import Transport
from digest.web.auth import NotLoggedIn, csrf_token

LANGS = ("cy", "en")  # Welsh first wherever both are offered


@dataclass
class Services:
    """What the routes need, built once per app."""

    settings: Settings
    engine: Engine
    tokens: Tokens
    transport_factory: Callable[[], Transport]
    signup_limiter: RateLimiter
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


def render(request: Request, template: str, lang: str, status: int = 200,
           **context: Any) -> HTMLResponse:
    """A page in `lang`, with the language toggle and the CSRF token at hand."""
    svc = services(request)
    t = translations(lang)
    html = svc.pages.get_template(template).render(
        _=t.gettext, ngettext=t.ngettext, lang=lang, langs=LANGS, request=request,
        csrf=csrf_token(request), editor_name=request.session.get("editor"), **context)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax",
                            secure=svc.settings.secure_cookies)
    return response


def create_app(settings: Settings, engine: Engine | None = None,
               transport_factory: Callable[[], Transport] | None = None) -> FastAPI:
    """The whole web app; the engine and transport default to the configured ones."""
    from digest.deliver import transport_factory as configured_transport
    from digest.web import editor, public

    engine = engine or engine_from(settings)
    upgrade(engine)
    app = FastAPI(title="digest", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = Services(
        settings=settings, engine=engine, tokens=Tokens(settings),
        transport_factory=transport_factory or configured_transport(settings),
        signup_limiter=RateLimiter(settings.signup_limit_per_hour, 3600),
        pages=Environment(loader=FileSystemLoader(settings.templates_dir / "web"),
                          autoescape=select_autoescape(default=True, default_for_string=True),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True),
    )
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key.get_secret_value(),
                       session_cookie="digest_editor", same_site="lax",
                       https_only=settings.secure_cookies, max_age=12 * 3600)
    app.include_router(public.router)
    app.include_router(editor.router)

    @app.exception_handler(NotLoggedIn)
    async def _login_first(request: Request, exc: NotLoggedIn) -> Response:
        return RedirectResponse("/editor/login", status_code=303)

    @app.exception_handler(BadToken)
    async def _bad_token(request: Request, exc: BadToken) -> Response:
        return render(request, "message.html.j2", choose_language(request), status=400,
                      title_key=N_("This link does not work"),
                      body_key=N_("The link is not valid: it may be incomplete, altered or "
                                  "out of date. Nothing has been changed."))

    @app.exception_handler(StarletteHTTPException)
    async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code != 404:  # the others keep FastAPI's answer
            return await http_exception_handler(request, exc)
        return render(request, "message.html.j2", choose_language(request), status=404,
                      title_key=N_("Page not found"),
                      body_key=N_("There is nothing at this address: the link may be incomplete, "
                                  "or what it pointed to has gone."))

    return app
