"""`POST /webhooks/<provider>`: bounces and complaints from SES (SNS), Postmark, Mailgun and
SendGrid (docs/webhooks.md).

No cookies, no CSRF token, no login: each request is authenticated by its provider's
signature or credentials (`digest.bounces.webhooks`). The answer leaves after the commit:
200 means recorded, a refusal is 401/403/400/413 with nothing recorded, and a database or
network failure is a 503 so that the provider tries again (recording is idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from digest.bounces import providers, service
from digest.bounces.webhooks import MAX_BODY_BYTES, Provider, WebhookRejected
from digest.bounces.webhooks.sns import Fetcher, urllib_confirm, urllib_fetch
from digest.settings import Settings
from digest.store.db import session_scope
from digest.store.models import FeedbackSource, now_utc
from digest.web.pages import Router, services

log = logging.getLogger("digest.webhooks")
router = Router(prefix="/webhooks")


@dataclass
class Webhooks:
    """The configured providers and what they need, built once per app."""

    providers: dict[str, Provider]
    confirm: Fetcher  # GETs an SNS SubscribeURL (its host already checked)
    clock: Callable[[], datetime]


def install(app: FastAPI, settings: Settings, *, fetch_cert: Fetcher = urllib_fetch,
            confirm: Fetcher = urllib_confirm,
            clock: Callable[[], datetime] = now_utc) -> None:
    """Mount the routes (once) and configure them from the settings (again, to replace)."""
    if getattr(app.state, "webhooks", None) is None:
        app.include_router(router)
    app.state.webhooks = Webhooks(providers.configured(settings, fetch_cert), confirm, clock)


@router.post("/{name}")
async def receive(name: str, request: Request) -> Response:
    """Verify one provider POST, record its reports, then answer."""
    hooks: Webhooks = request.app.state.webhooks
    provider = hooks.providers.get(name)
    if provider is None:
        raise HTTPException(404)
    body = await _body(request, MAX_BODY_BYTES)
    if body is None:
        return _answer(413, error="body too large")
    # The work is synchronous (signatures, the database): off the event loop.
    return await run_in_threadpool(_handle, request, provider, body, hooks.clock())


def _handle(request: Request, provider: Provider, body: bytes, now: datetime) -> Response:
    hooks: Webhooks = request.app.state.webhooks
    try:
        verified = provider.verify(request.headers, body, now)
    except WebhookRejected as refused:
        log.info("webhook %s refused: %d %s", provider.name, refused.status, refused.reason)
        return _answer(refused.status, error=refused.reason)
    if verified.confirm_url is not None:
        try:
            hooks.confirm(verified.confirm_url)
        except (OSError, ValueError) as exc:
            log.warning("webhook %s: subscription not confirmed: %s", provider.name, exc)
            return _answer(503, error="subscription confirmation failed")
        log.info("webhook %s: subscription confirmed", provider.name)
        return _answer(200, confirmed=True)
    svc = services(request)
    try:
        with session_scope(svc.engine, write=True) as session:
            results = service.process_verified(session, svc.settings, verified,
                                               FeedbackSource(provider.name), body, now=now)
    except service.Replayed:
        log.info("webhook %s refused: replayed nonce", provider.name)
        return _answer(403, error="replayed")
    except sa.exc.SQLAlchemyError:
        log.exception("webhook %s: not recorded", provider.name)
        return _answer(503, error="not recorded, try again")
    return _answer(200, recorded=sum(r.new for r in results),
                   repeated=sum(not r.new for r in results))


async def _body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is over `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, **content: Any) -> Response:
    return JSONResponse(content, status_code=status, headers={"Cache-Control": "no-store"})
