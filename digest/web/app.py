"""The FastAPI application: `create_app` wires the services, the routers and the error pages."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from digest.audience.self_service import SignupLimiter
from digest.delivery.transports.base import Transport
from digest.i18n import N_
from digest.settings import Settings
from digest.store.db import engine_from, upgrade
from digest.tokens import BadToken, Tokens
from digest.web import archive, assets, audience, editor, editor_compare, feeds, public, webhooks
from digest.web.auth import NotLoggedIn
from digest.web.pages import Services, choose_language, render


def create_app(settings: Settings, engine: Engine | None = None,
               transport_factory: Callable[[], Transport] | None = None) -> FastAPI:
    """The whole web app; the engine and transport default to the configured ones."""
    from digest.delivery.transports.factory import transport_factory as configured_transport

    engine = engine or engine_from(settings)
    upgrade(engine)
    app = FastAPI(title="digest", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = Services(
        settings=settings, engine=engine, tokens=Tokens(settings),
        transport_factory=transport_factory or configured_transport(settings),
        signup_limiter=SignupLimiter(settings.signup_limit_per_hour, 3600),
        pages=Environment(loader=FileSystemLoader(settings.templates_dir / "web"),
                          autoescape=select_autoescape(default=True, default_for_string=True),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True),
    )
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key.get_secret_value(),
                       session_cookie="digest_editor", same_site="lax",
                       https_only=settings.secure_cookies, max_age=12 * 3600)
    app.include_router(public.router)
    app.include_router(assets.router)
    app.include_router(archive.router)
    app.include_router(feeds.router)
    app.include_router(editor.router)
    webhooks.install(app, settings)
    app.include_router(audience.router)
    app.include_router(editor_compare.router)

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
