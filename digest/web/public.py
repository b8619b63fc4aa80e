"""Subscribers' pages: sign up (double opt-in), confirm, preferences, unsubscribe, archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlmodel import Session, col, select

from digest.audience import self_service
from digest.audience.self_service import Signup, page_language
from digest.i18n import N_
from digest.issue import links
from digest.issue.service import get_issue, variants
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.render.views import localised, review_view
from digest.store.db import session_scope, writer_lock
from digest.store.models import (
    ActionReason,
    Issue,
    IssueState,
    Language,
    Review,
    Subscriber,
    SubscriberState,
    now_utc,
)
from digest.tokens import Purpose
from digest.web.pages import Db, ReadDb, Services, Svc, choose_language, render

router = APIRouter()
# Content bodies are Markdown written by editors; HTML inside them is shown as text, not run.
MARKDOWN = MarkdownIt("commonmark", {"html": False})



@router.get("/")
def home() -> Response:
    """The landing page is the sign-up form."""
    return RedirectResponse("/subscribe", status_code=307)


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request) -> Response:
    """The sign-up form."""
    return render(request, "subscribe.html.j2", choose_language(request), error=None)


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(request: Request, svc: Svc, session: Db,
              email: Annotated[str, Form()], language: Annotated[Language, Form()],
              name: Annotated[str, Form()] = "") -> Response:
    """Send a confirmation link; the answer is the same whether or not the address is known."""
    lang = choose_language(request)
    transport = svc.transport_factory()
    try:
        outcome = self_service.request(session, svc.settings, svc.tokens, transport,
                                        svc.signup_limiter, email, name, language,
                                        client_ip=request.client.host if request.client else None)
    except ValueError:
        return render(request, "subscribe.html.j2", lang, status=400,
                      error=N_("That does not look like an email address."))
    finally:
        transport.close()
    if outcome is Signup.RATE_LIMITED:
        return render(request, "message.html.j2", lang, status=429,
                      title_key=N_("Please wait"),
                      body_key=N_("Too many requests for this address. Try again in an hour."))
    return render(request, "message.html.j2", lang, title_key=N_("Check your inbox"),
                  body_key=N_("If the address can receive our digest, we have sent it a link. "
                  "Open it to confirm your subscription."))


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str, svc: Svc, session: Db) -> Response:
    """Activate a subscription from the emailed link (signed, expiring)."""
    subscriber_id = svc.tokens.read_expiring(token, svc.settings.confirm_max_age_hours * 3600)
    try:
        sub = self_service.confirm(session, subscriber_id)
    except LookupError:
        raise HTTPException(404) from None
    return render(request, "message.html.j2", choose_language(request, page_language(sub.language)),
                  title_key=N_("Subscription confirmed"),
                  body_key=N_("Thank you. You will receive the next monthly digest."))


@router.get("/p/{token}", response_class=HTMLResponse)
def preferences(request: Request, token: str, svc: Svc, session: Db) -> Response:
    """The preferences page from the link in every email (no login: the token is the key)."""
    sub = _subscriber(svc, session, Purpose.PREFERENCES, token)
    return render(request, "preferences.html.j2",
                  choose_language(request, page_language(sub.language)), sub=sub, token=token,
                  saved=None, active=sub.state is SubscriberState.ACTIVE)


@router.post("/p/{token}", response_class=HTMLResponse)
def preferences_save(request: Request, token: str, svc: Svc, session: Db,
                     action: Annotated[str, Form()],
                     language: Annotated[Language | None, Form()] = None) -> Response:
    """Change language, unsubscribe or resubscribe."""
    sub = _subscriber(svc, session, Purpose.PREFERENCES, token)
    if action == "language" and language is not None:
        self_service.set_language(session, sub.id or 0, language)
        saved = N_("Your language choice has been saved.")
    elif action == "unsubscribe":
        self_service.unsubscribe(session, sub.id or 0)
        saved = N_("You have been unsubscribed. You will receive no more digests.")
    elif action == "resubscribe":
        self_service.resubscribe(session, sub.id or 0)
        saved = N_("Welcome back: you will receive the next digest.")
    else:
        raise HTTPException(400, "unknown action")
    lang = page_language(sub.language) if action == "language" else choose_language(
        request, page_language(sub.language))
    return render(request, "preferences.html.j2", lang, sub=sub, token=token, saved=saved,
                  active=sub.state is SubscriberState.ACTIVE)


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str, svc: Svc, session: Db) -> Response:
    """A confirm button, not an unsubscribe: link scanners follow GETs."""
    sub = _subscriber(svc, session, Purpose.UNSUBSCRIBE, token)
    return render(request, "unsubscribe.html.j2",
                  choose_language(request, page_language(sub.language)), sub=sub, done=False,
                  token=token)


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str, svc: Svc,
                via: Annotated[str, Form()] = "") -> Response:
    """RFC 8058 one-click: no cookie or login, unsubscribed at once, 200 and no redirect."""
    subscriber_id = svc.tokens.read(Purpose.UNSUBSCRIBE, token)
    # SQLite's write lock is held for the writes only: committed before the page is rendered
    # (a 200 still means committed), so the send's claims and commits wait for no rendering.
    # This process's writers queue on writer_lock, so one of them at a time meets the busy
    # handler (which sleeps up to 100 ms a try) beside the sender, not one per thread.
    with writer_lock(svc.engine), session_scope(svc.engine, write=True) as session:
        try:
            sub = self_service.unsubscribe(session, subscriber_id, reason=ActionReason.LINK
                                           if via == "page"  # the page's form says "page"
                                           else ActionReason.ONE_CLICK)
        except LookupError:
            raise HTTPException(404) from None
    return render(request, "unsubscribe.html.j2",
                  choose_language(request, page_language(sub.language)), sub=sub, done=True,
                  token=token)


@router.get("/archive", response_class=HTMLResponse)
def archive(request: Request, session: Db) -> Response:
    """Every sent issue."""
    sent = session.exec(select(Issue).where(Issue.state == IssueState.SENT)
                        .order_by(col(Issue.period).desc())).all()
    return render(request, "archive.html.j2", choose_language(request), issues=sent)


@router.get("/archive/{period}/{language}", response_class=HTMLResponse)
def archive_issue(period: str, language: Language, svc: Svc, session: Db) -> Response:
    """A sent issue as it was sent, with the personal links made generic."""
    try:
        issue = get_issue(session, period)
    except LookupError:
        raise HTTPException(404) from None
    if issue.state is not IssueState.SENT:
        raise HTTPException(404)
    variant = variants(session, issue)[language]
    site = svc.settings.site_url.rstrip("/")
    html = (variant.html.replace(f"{site}/u/{UNSUB_PLACEHOLDER}", f"{site}/subscribe")
            .replace(f"{site}/p/{PREFS_PLACEHOLDER}", f"{site}/subscribe"))
    return HTMLResponse(links.direct(session, issue, html, site))  # archive clicks not counted


@router.get("/reviews/{slug}", response_class=HTMLResponse)
def review_page(slug: str, request: Request, session: ReadDb) -> Response:
    """A published review in full, in the reader's language (the other one, marked, if missing);
    the page each review's title in the email links to."""
    row = session.exec(select(Review).where(Review.slug == slug)).first()
    if row is None or row.published_at > now_utc():
        raise HTTPException(404)
    lang = choose_language(request)
    body = localised(row.body_cy, row.body_en, lang)
    return render(request, "review.html.j2", lang, review=review_view(row), body_lang=body.lang,
                  body=Markup(MARKDOWN.render(body.value)))  # markdown-it escapes the text


def _subscriber(svc: Services, session: Session, purpose: Purpose, token: str
                ) -> Subscriber:
    subscriber_id = svc.tokens.read(purpose, token)
    try:
        return self_service.get(session, subscriber_id)
    except LookupError:
        raise HTTPException(404) from None
