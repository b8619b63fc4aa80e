"""Error answers: a page in the visitor's language for every refusal, never FastAPI's JSON
or a traceback; a database that did not take a change answers 503 with Retry-After."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from digest.i18n import N_
from digest.tokens import BadToken
from digest.web.logs import redact
from digest.web.pages import CommitFailed, choose_language, render, services, site_redirect
from digest.web.sessions import LOGIN_PATH, NotLoggedIn, clear_session_cookie

log = logging.getLogger("digest.web")
RETRY_AFTER_SECONDS = 30
PAGES: dict[int, tuple[str, str]] = {
    400: (N_("Bad request"), N_("The address or the form was not as expected, so nothing has "
                                "been changed.")),
    403: (N_("Not allowed"), N_("This request was refused, so nothing has been changed. If "
                                "you followed a form, load its page again and retry.")),
    404: (N_("Page not found"), N_("There is nothing at this address: the link may be "
                                   "incomplete, or what it pointed to has gone.")),
    405: (N_("Not allowed"), N_("This address does not accept that kind of request.")),
    410: (N_("Withdrawn"), N_("This item has been withdrawn and is no longer published.")),
    413: (N_("Too large"), N_("What was sent is larger than this site accepts.")),
    429: (N_("Please wait"), N_("Too many requests. Please try again later.")),
    500: (N_("Something went wrong"), N_("The site could not answer. Nothing has been "
                                         "changed; please try again later.")),
    503: (N_("Please try again"), N_("The site could not save this just now, so nothing has "
                                     "been changed. Please try again in a minute.")),
}


def error_page(request: Request, status: int, headers: dict[str, str] | None = None
               ) -> Response:
    """The page for an HTTP status, in the visitor's language."""
    title, body = PAGES.get(status, PAGES[400 if status < 500 else 500])
    return render(request, "message.html.j2", choose_language(request), status=status,
                  headers=headers, title_key=title, body_key=body)


def install(app: FastAPI) -> None:
    """Register the error pages on `app`."""

    @app.exception_handler(NotLoggedIn)
    async def _login_first(request: Request, exc: NotLoggedIn) -> Response:
        settings = services(request).settings
        response = site_redirect(settings, LOGIN_PATH)
        clear_session_cookie(response, settings)
        return response

    @app.exception_handler(BadToken)
    async def _bad_token(request: Request, exc: BadToken) -> Response:
        return render(request, "message.html.j2", choose_language(request), status=400,
                      title_key=N_("This link does not work"),
                      body_key=N_("The link is not valid: it may be incomplete, altered or "
                                  "out of date. Nothing has been changed."))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        in_path = any(err.get("loc", ("",))[0] == "path" for err in exc.errors())
        return error_page(request, 404 if in_path else 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_page(request, exc.status_code, dict(exc.headers or {}))

    @app.exception_handler(CommitFailed)
    async def _not_stored(request: Request, exc: CommitFailed) -> Response:
        log.error("commit failed for %s %s: %s", request.method, redact(request.url.path),
                  exc.__cause__)
        return error_page(request, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.exception_handler(sa.exc.DBAPIError)
    async def _database_error(request: Request, exc: sa.exc.DBAPIError) -> Response:
        log.error("database error for %s %s: %s", request.method, redact(request.url.path),
                  exc)
        return error_page(request, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # Starlette logs the traceback; the visitor gets a page without one.
        return error_page(request, 500)
