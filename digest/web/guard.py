"""The outermost layer of the app (pure ASGI): trusted hosts, cross-site writes, the request
body limit, and the security headers on every response, error pages included.

It wraps Starlette's own error middleware (see `DigestApp`), so that even a crash's 500
carries the headers.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from fastapi import FastAPI
from python_multipart.multipart import parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.settings import Settings
from digest.web.errors import error_page
from digest.web.logs import TOKEN_ROOTS

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPE = b"application/x-www-form-urlencoded"
MULTIPART_TYPE = b"multipart/form-data"  # none of our forms sends one; no route takes a file
ONE_CLICK = re.compile(r"/u/[^/]+")  # RFC 8058: posted by mail providers, cross-site, no cookie


class Kind(enum.Enum):
    """What a response is, for its headers."""

    PAGE = "page"  # our own pages: nothing may frame them
    PREVIEW = "preview"  # the editor's issue page, which frames its own email previews
    EMAIL_FRAME = "email-frame"  # an email's HTML in the preview's sandboxed frames
    EMAIL = "email"  # an archived email's HTML, opened on its own
    TOKEN_PAGE = "token-page"  # a page whose URL carries a subscriber's token


ROUTE_KINDS = [
    (re.compile(r"/editor/issues/[^/]+/email/[^/]+"), Kind.EMAIL_FRAME),
    (re.compile(r"/editor/issues/[^/]+"), Kind.PREVIEW),
    (re.compile(r"/archive/[^/]+/[^/]+"), Kind.EMAIL),
    (re.compile(rf"/({'|'.join(TOKEN_ROOTS)})/.*"), Kind.TOKEN_PAGE),
]
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
            "form-action 'self'{site}; frame-ancestors 'none'")
# An email's HTML: its own <style> blocks and style attributes, remote images, no script and
# an opaque origin (the sandbox directive) even when opened outside its sandboxed frame.
# Its links (target=_blank buttons) open in a new, unsandboxed tab; javascript: URLs stay
# blocked (no script-src), and no form is sent.
EMAIL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
             "base-uri 'none'; form-action 'none'; "
             "sandbox allow-popups allow-popups-to-escape-sandbox; frame-ancestors {ancestors}")


def kind_of(path: str) -> Kind:
    """The kind of response a path gives."""
    for pattern, kind in ROUTE_KINDS:
        if pattern.fullmatch(path):
            return kind
    return Kind.PAGE


def security_headers(settings: Settings, kind: Kind, path: str) -> list[tuple[bytes, bytes]]:
    """The headers every response of this kind carries."""
    site = f" {settings.site_origin}"
    csp = {
        Kind.PAGE: PAGE_CSP.format(site=site),
        Kind.TOKEN_PAGE: PAGE_CSP.format(site=site),
        Kind.PREVIEW: PAGE_CSP.format(site=site) + "; frame-src 'self'",
        Kind.EMAIL_FRAME: EMAIL_CSP.format(ancestors="'self'"),
        Kind.EMAIL: EMAIL_CSP.format(ancestors="'none'"),
    }[kind]
    headers = {
        "content-security-policy": csp,
        "x-content-type-options": "nosniff",
        "x-frame-options": "SAMEORIGIN" if kind is Kind.EMAIL_FRAME else "DENY",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if kind is Kind.TOKEN_PAGE or path == "/editor" or path.startswith("/editor/"):
        headers["cache-control"] = "no-store"
    if settings.https:
        headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
    return [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]


def host_allowed(settings: Settings, host_header: str) -> bool:
    """Whether a Host header names this site (or one of DIGEST_TRUSTED_HOSTS)."""
    try:
        host = (urlsplit(f"//{host_header}").hostname or "").rstrip(".")
    except ValueError:
        return False
    if not host:
        return False
    for allowed in settings.allowed_hosts:
        if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
            return True
    return False


def serialized_origin(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL as a browser serializes its Origin: lower
    case, no default port, no trailing dot; None for anything else (a path, user info, a
    bad port, another scheme)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    if (parts.scheme not in ("http", "https") or not host or parts.username is not None
            or parts.password is not None or parts.path not in ("", "/") or parts.query
            or parts.fragment):
        return None
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def cross_site(settings: Settings, headers: dict[str, str], scheme: str = "http") -> bool:
    """Whether a browser says this request comes from another site (Fetch metadata, then
    Origin; a missing header is not proof of anything, so it passes).

    An Origin is ours only when its scheme, host and port are all the site's (DIGEST_SITE_URL)
    or this request's own (`scheme` and the Host header, which the guard has already
    checked): `http://` beside an `https://` site, or another port of the same host, is
    another origin, which a page on it could use to post to us.
    """
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None or origin == "null":  # "null": also our own forms under no-referrer
        return False
    ours = {serialized_origin(settings.site_origin),
            serialized_origin(f"{scheme}://{headers.get('host', '')}")}
    seen = serialized_origin(origin)
    return seen is None or seen not in ours


class BadForm(HTTPException):
    """A form body none of our forms can send (see `form_is_sound`)."""

    def __init__(self) -> None:
        super().__init__(400)


def form_is_sound(body: bytes) -> bool:
    """Whether an `application/x-www-form-urlencoded` body is one a browser sends from our
    forms: ASCII on the wire, each name and value UTF-8 once percent-decoded and free of NUL
    (PostgreSQL refuses one in text), and no field named twice (no form of ours has a field
    that takes several values, so a second value could only be smuggled past the first).

    Starlette's parser would otherwise read bad bytes as U+FFFD or Latin-1 and keep the
    last of two values, and the app would store what nobody typed.
    """
    if not body.isascii():
        return False
    names: set[str] = set()
    for pair in body.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        try:
            text = [unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
                    for part in (name, value)]
        except UnicodeDecodeError:
            return False
        if "\x00" in text[0] or "\x00" in text[1] or text[0] in names:
            return False
        names.add(text[0])
    return True


def media_type(headers: dict[str, str]) -> bytes:
    """The request body's media type as Starlette reads it when it parses a form (its own
    parser: any case, spaces around it), so the guard judges every body the app reads as one."""
    return parse_options_header(headers.get("content-type", ""))[0]


def first_values(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name, each with its first value: the one Starlette's
    `request.headers[...]` gives the app (a second `Content-Type` must not be the one judged)."""
    found: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        found.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return found


def carries_nul(scope: Scope) -> bool:
    """Whether the path or query holds a NUL byte: no id, token, period or search term of
    ours can, and PostgreSQL refuses one in text (so it would otherwise be a 500)."""
    query = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"\x00" in query or b"%00" in query.lower()


class BodyTooLarge(HTTPException):
    """A request body went past the limit while it was being read (the app's error pages
    answer it with 413)."""

    def __init__(self) -> None:
        super().__init__(413)


class Guard:
    """The ASGI middleware: refuse what must not reach the app, label what leaves it."""

    def __init__(self, app: ASGIApp, settings: Settings,
                 refuse: Callable[[Scope, int], Awaitable[Any]]) -> None:
        self.app, self.settings, self.refuse = app, settings, refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on with the headers added to its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        extra = security_headers(self.settings, kind_of(path), path)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                if started:
                    return
                started = True
                names = {k for k, _ in extra}
                message["headers"] = [(k, v) for k, v in message.get("headers", [])
                                      if k.lower() not in names] + extra
            elif not started:
                return
            await send(message)

        headers = first_values(scope)
        status = self._refusal(scope, headers)
        if status is not None:
            response = await self.refuse(scope, status)
            await response(scope, receive, send_with_headers)
            return
        limit = self.settings.max_form_bytes
        form = media_type(headers) == FORM_TYPE
        seen = 0

        async def limited_receive() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
                if form and message.get("more_body", False):
                    # A form is judged whole (it is at most `limit` bytes): gather it here
                    # and hand it on as one message.
                    parts = [message.get("body", b"")]
                    while message.get("more_body", False):
                        message = await receive()
                        if message["type"] != "http.request":
                            return message
                        parts.append(message.get("body", b""))
                        seen += len(parts[-1])
                        if seen > limit:
                            raise BodyTooLarge()
                    message = {"type": "http.request", "body": b"".join(parts),
                               "more_body": False}
                if form and not form_is_sound(message.get("body", b"")):
                    raise BadForm()
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except (BodyTooLarge, BadForm) as refused:
            if started:
                raise
            response = await self.refuse(scope, refused.status_code)
            await response(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> int | None:
        if not host_allowed(self.settings, headers.get("host", "")) or carries_nul(scope):
            return 400
        length = headers.get("content-length", "0")
        if not length.isascii() or not length.isdigit():
            return 400
        if int(length) > self.settings.max_form_bytes:
            return 413
        if media_type(headers) == MULTIPART_TYPE:  # judged nowhere: bad bytes, fields twice
            return 400
        if (scope.get("method") in UNSAFE_METHODS and not ONE_CLICK.fullmatch(scope["path"])
                and cross_site(self.settings, headers, str(scope.get("scheme", "http")))):
            return 403
        return None


class DigestApp(FastAPI):
    """FastAPI with the Guard outside everything else, Starlette's error middleware too."""

    def build_middleware_stack(self) -> ASGIApp:
        """Starlette's stack, wrapped in the Guard."""

        async def refuse(scope: Scope, status: int) -> Any:
            return error_page(Request(scope), status)

        settings = self.state.services.settings
        return Guard(super().build_middleware_stack(), settings, refuse)
