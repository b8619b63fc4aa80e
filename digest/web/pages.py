"""What every route shares (FastAPI dependencies): the services, a transaction, the page
language, page rendering, redirects to the site and the client's address."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from babel import Locale, negotiate_locale
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment
from pydantic import BeforeValidator
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.audience.one_click import OneClick
from digest.delivery.transports.base import Transport
from digest.i18n import DOMAIN, LANGS, translations
from digest.settings import Settings
from digest.store.db import session_scope
from digest.tokens import ASCII_NUMBER, MAX_ID, Tokens, row_id
from digest.web.links import feed_links, language_url


def digits(value: object) -> object:
    """A number from a path or a query as our links write it: ASCII digits, no sign, space,
    underscore, point or leading zero (pydantic's `int` takes all of those, and `1_0` is 10);
    a FastAPI validator, so anything else is a 404 in a path and a 400 in a query."""
    if isinstance(value, str) and not ASCII_NUMBER.fullmatch(value):
        raise ValueError("not a number in ASCII digits")
    return value


Number = Annotated[int, BeforeValidator(digits)]
# A row id or a position, in a path or a query: bigger than a database integer column holds is
# a 404 or 400 page (PostgreSQL would refuse the query, SQLite's driver overflow: a 5xx).
RowId = Annotated[int, BeforeValidator(digits), Path(ge=0, le=MAX_ID)]
QueryId = Annotated[int | None, BeforeValidator(digits), Query(ge=0, le=MAX_ID)]


class Router(APIRouter):
    """An APIRouter whose GET routes answer HEAD as well (RFC 9110 9.1: a server that
    supports GET supports HEAD; feed readers and link checkers send it). `@router.get`
    alone registers GET only. The server (uvicorn) sends a HEAD response without its body."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        """Register the route, with HEAD beside GET unless the endpoint `acts_on_get`."""
        methods = kwargs.get("methods")
        if methods is not None and "GET" in methods and "HEAD" not in methods \
                and not getattr(endpoint, ACTS_ON_GET, False):
            kwargs["methods"] = [*methods, "HEAD"]
        super().add_api_route(path, endpoint, **kwargs)


ACTS_ON_GET = "_digest_acts_on_get"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
Page = TypeVar("Page", bound=Response)


def acts_on_get(endpoint: Endpoint) -> Endpoint:
    """Mark an endpoint whose GET changes something (the one-click confirmation): it answers
    no HEAD, so that a link scanner's HEAD changes nothing. Put it below the route decorators."""
    setattr(endpoint, ACTS_ON_GET, True)
    return endpoint


@dataclass
class Services:
    """What the routes need, built once per app."""

    settings: Settings
    engine: Engine
    tokens: Tokens
    transport_factory: Callable[[], Transport]
    pages: Environment
    clock: Callable[[], datetime]
    one_click: OneClick  # the one-click unsubscribes, committed in groups

    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A transaction for one request (a FastAPI dependency body)."""
        with session_scope(self.engine, write=write) as session:
            yield session


class CommitFailed(Exception):
    """The database did not take a request's changes (answered 503, so callers retry)."""


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
    wanted = accepted_languages(request.headers.get("accept-language", "")[:1000])
    try:
        found = negotiate_locale(wanted, ["cy", "en"], sep="_") if wanted else None
    except ValueError:
        found = None
    return Locale.parse(found).language if found else "cy"


def accepted_languages(header: str) -> list[str]:
    """An Accept-Language header's tags, most wanted first (RFC 9110 12.5.4): by weight,
    then in the header's order; a tag weighted `q=0` ("not acceptable") or with a weight
    that is not one is left out. Tags come back with `_` for `-`, as Babel parses them."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and 0 < weight <= 1:  # NaN fails both
            ranked.append((-weight, index, tag.replace("-", "_")))
    return [tag for _, _, tag in sorted(ranked)]


def render(request: Request, template: str, lang: str, status: int = 200,
           headers: dict[str, str] | None = None, *, domain: str = DOMAIN,
           **context: Any) -> HTMLResponse:
    """A page in `lang` from `domain`'s catalog (the editors' pages pass EDITOR_DOMAIN), with
    the language toggle and this page's other-language address; editor pages pass `csrf`
    and `editor_name` themselves."""
    svc = services(request)
    t = translations(lang, domain)
    site = svc.settings.site_url.rstrip("/")
    html = svc.pages.get_template(template).render(
        _=t.gettext, ngettext=t.ngettext, lang=lang, langs=LANGS, request=request, site=site,
        root=svc.settings.site_path,
        public=domain == DOMAIN, switch=lambda code: language_url(request, code),
        feeds=feed_links(site, lang), **context)
    return negotiated(request, HTMLResponse(html, status_code=status, headers=headers), lang)


def negotiated(request: Request, response: Page, lang: str) -> Page:
    """`response`, a page whose language `choose_language` picked, marked as such: `Vary`
    (the language comes from ?lang, the lang cookie or Accept-Language, so a cache between
    us and the reader must not hand one reader's language to another) and, after a
    `?lang=`, the cookie that keeps the choice. Every page built without `render` that
    speaks the reader's language goes through this too."""
    response.headers.setdefault("vary", "Accept-Language, Cookie")
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True,
                            secure=services(request).settings.https)
    return response


def site_redirect(settings: Settings, path: str, status: int = 303) -> RedirectResponse:
    """A redirect to `path` on the configured site (never to the request's own Host)."""
    return RedirectResponse(settings.site_url.rstrip("/") + path, status_code=status)


def parse_id(text: str) -> int:
    """A row id from a path segment; anything but 1..2**31-1 in ASCII digits is a 404."""
    if (found := row_id(text)) is None:
        raise HTTPException(404)
    return found


def client_address(request: Request) -> str:
    """Who is asking, for throttles: the peer's address (an IPv6 client by its /64; an IPv4
    one that a dual-stack socket shows as `::ffff:a.b.c.d` by its IPv4 address)."""
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6 and ip.ipv4_mapped is not None:
        # Otherwise every IPv4 client of a server listening on `::` would be one: `::/64`.
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def commit(session: Session) -> None:
    """Commit now, before the response is built; a failure becomes a 503 (CommitFailed)."""
    try:
        session.commit()
    except sa.exc.SQLAlchemyError as exc:
        session.rollback()
        raise CommitFailed() from exc


def db(svc: Annotated[Services, Depends(services)]) -> Iterator[Session]:
    """A write transaction for the request (a FastAPI dependency)."""
    yield from svc.session(write=True)


def read_db(svc: Annotated[Services, Depends(services)]) -> Iterator[Session]:
    """A transaction for the request that only reads (takes no write lock)."""
    yield from svc.session()


Svc = Annotated[Services, Depends(services)]
# Function scope: the commit runs when the route returns, before the response is sent (by
# default FastAPI ends a yield dependency after the answer), so a 200 means committed and a
# failed commit is an error page, which a one-click unsubscriber retries.
Db = Annotated[Session, Depends(db, scope="function")]
ReadDb = Annotated[Session, Depends(read_db)]
