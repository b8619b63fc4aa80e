"""Subscribers' own GDPR rights, reached from the preferences page: download everything held
about them, or erase it (with a confirmation step).

The preferences link (in every email) opens the privacy page, which signs a short-lived
token of its own (Purpose.PRIVACY, an hour) into its forms; both actions are POSTs, so a
link scanner that follows every GET can neither download nor erase anything.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from digest.audience import gdpr, self_service
from digest.audience.self_service import page_language
from digest.i18n import N_
from digest.store.models import Subscriber
from digest.tokens import Purpose
from digest.web.pages import Db, ReadDb, Router, Services, Svc, choose_language, render

router = Router()
MAX_AGE_SECONDS = 3600


@router.get("/p/{token}/privacy", response_class=HTMLResponse)
def privacy_page(request: Request, token: str, svc: Svc, session: ReadDb) -> Response:
    """What is held and why, with the download and erase buttons."""
    sub = _by_preferences(svc, session, token)
    return render(request, "privacy.html.j2",
                  choose_language(request, page_language(sub.language)), sub=sub,
                  token=token, action=svc.tokens.make_expiring(sub.id or 0, Purpose.PRIVACY),
                  confirm=False)


@router.post("/privacy/{token}/export")
def export_mine(token: str, svc: Svc, session: ReadDb) -> Response:
    """Everything held about the token's subscriber, as a JSON download."""
    sub = _by_action(svc, session, token)
    data = gdpr.export_person(session, sub.id or 0)
    return Response(json.dumps(data, ensure_ascii=False, indent=2),
                    media_type="application/json; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="my-digest-data.json"',
                             "Cache-Control": "no-store"})


@router.post("/privacy/{token}/erase", response_class=HTMLResponse)
def erase_mine(request: Request, token: str, svc: Svc, session: Db,
               confirmed: Annotated[str, Form()] = "") -> Response:
    """First a page that asks again; with `confirmed=yes`, the erasure and a goodbye."""
    sub = _by_action(svc, session, token)
    lang = choose_language(request, page_language(sub.language))
    if confirmed != "yes":
        return render(request, "privacy.html.j2", lang, sub=sub, token=None, action=token,
                      confirm=True)
    try:
        gdpr.erase(session, svc.settings, sub.id or 0, "subscriber")
    except gdpr.NotFound:  # erased meanwhile: its links name nobody
        session.rollback()
        raise HTTPException(404) from None
    session.commit()  # before the answer that says it is done
    return render(request, "message.html.j2", lang, title_key=N_("Your data has been erased"),
                  body_key=N_("We no longer hold your address or name, and you will receive "
                              "no more digests. Our counts keep a number for you, without "
                              "your details."))


def _by_preferences(svc: Services, session: Session, token: str) -> Subscriber:
    return _get(session, svc.tokens.read(Purpose.PREFERENCES, token))


def _by_action(svc: Services, session: Session, token: str) -> Subscriber:
    return _get(session, svc.tokens.read_expiring(token, MAX_AGE_SECONDS, Purpose.PRIVACY))


def _get(session: Session, subscriber_id: int) -> Subscriber:
    try:
        return self_service.get(session, subscriber_id)
    except LookupError:  # unknown, or erased already: its links name nobody
        raise HTTPException(404) from None
