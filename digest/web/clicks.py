"""The click counter's redirect: `/r/<issue>/<item>/<lang>` (digest.audience.engagement).

The target comes from the issue's frozen items, never from the request, so the route is no
open redirect; the answer sets no cookie and carries no identifier.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from digest.audience import engagement
from digest.issue.links import item_target
from digest.issue.service import IssueNotFound, get_issue
from digest.store.models import Language, now_utc
from digest.web.pages import Db, Router, RowId, Svc

router = Router()
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@router.api_route("/r/{period}/{position}/{lang}", methods=["GET", "HEAD"])
def click(request: Request, period: str, position: RowId, lang: Language, svc: Svc,
          session: Db) -> Response:
    """Count a reader's click on one item (see the rule in engagement) and redirect."""
    if lang is Language.BOTH or "-" not in period:
        raise HTTPException(404)
    try:
        issue = get_issue(session, period)
    except IssueNotFound:
        raise HTTPException(404) from None
    url = item_target(session, issue, position, lang.value, svc.settings.site_url.rstrip("/"))
    if url is None:
        raise HTTPException(404)
    if svc.settings.click_counts:
        verdict = engagement.classify(
            request.method, request.headers.get("user-agent"), now_utc(),
            engagement.send_started(session, issue),
            timedelta(seconds=svc.settings.click_grace_seconds))
        engagement.count(session, issue, position, lang, verdict)
    return RedirectResponse(url, status_code=302, headers=NO_STORE)
