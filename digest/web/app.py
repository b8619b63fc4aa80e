"""The FastAPI application: `create_app` wires the services, the routers, the error pages
and the guard (trusted hosts, body limit, cross-site writes, security headers)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.engine import Engine

from digest.audience.one_click import OneClick
from digest.delivery.transports.base import Transport
from digest.settings import Settings
from digest.store.db import engine_from, upgrade
from digest.store.models import now_utc
from digest.tokens import Tokens
from digest.web import (
    archive,
    assets,
    audience,
    editor,
    editor_compare,
    errors,
    feeds,
    login,
    public,
    webhooks,
)
from digest.web.auth import accounts
from digest.web.guard import DigestApp
from digest.web.pages import Services


def create_app(settings: Settings, engine: Engine | None = None,
               transport_factory: Callable[[], Transport] | None = None,
               clock: Callable[[], datetime] = now_utc) -> DigestApp:
    """The whole web app; the engine and transport default to the configured ones.

    Raises InsecureSecretKey when DIGEST_SECRET_KEY is unset, a public demo value or weak,
    and SettingInvalid for an entry of DIGEST_EDITOR_ACCOUNTS that could never log in.
    """
    from digest.delivery.transports.factory import transport_factory as configured_transport

    tokens = Tokens(settings)  # first: it refuses a missing, public or weak key
    accounts(settings)  # an entry that could never log in is SettingInvalid, before serving
    engine = engine or engine_from(settings)
    upgrade(engine)
    # No slash redirects: Starlette would build them from the request, not the site URL.
    app = DigestApp(title="digest", docs_url=None, redoc_url=None, openapi_url=None,
                    redirect_slashes=False)
    app.state.services = Services(
        settings=settings, engine=engine, tokens=tokens,
        transport_factory=transport_factory or configured_transport(settings),
        pages=Environment(loader=FileSystemLoader(settings.templates_dir / "web"),
                          autoescape=select_autoescape(default=True, default_for_string=True),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True),
        clock=clock, one_click=OneClick(engine),
    )
    app.include_router(public.router)
    app.include_router(assets.router)
    app.include_router(archive.router)
    app.include_router(feeds.router)
    app.include_router(login.router)
    app.include_router(editor.router)
    app.include_router(editor_compare.router)
    app.include_router(audience.router)
    webhooks.install(app, settings)
    errors.install(app)
    return app
