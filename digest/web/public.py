"""Subscribers' pages: sign up (double opt-in), confirm, preferences, unsubscribe, reviews
(the archive is in digest.web.archive, the feeds in digest.web.feeds).

Every request that changes something commits before its answer is built: a 200 means the
change is stored, and a failed commit is a 503 (a mail provider's one-click POST is retried).
"""

from __future__ import annotations

import re
from typing import Annotated

import sqlalchemy as sa
from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlmodel import Session, select

from digest.audience import self_service
from digest.audience.self_service import Signup, page_language
from digest.content.links import doi_url
from digest.i18n import N_, long_date
from digest.render.views import citation, localised, review_view
from digest.store.models import (
    ActionReason,
    Language,
    Review,
    Subscriber,
    SubscriberState,
)
from digest.tokens import ExpiredToken, Purpose
from digest.web.pages import (
    CommitFailed,
    Db,
    ReadDb,
    Router,
    Services,
    Svc,
    acts_on_get,
    choose_language,
    client_address,
    commit,
    render,
    site_redirect,
)

router = Router()
# Content bodies are Markdown written by editors; HTML inside them is shown as text, not run.
MARKDOWN = MarkdownIt("commonmark", {"html": False})
PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@router.get("/")
def home(svc: Svc) -> Response:
    """The landing page is the sign-up form."""
    return site_redirect(svc.settings, "/subscribe", status=307)


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request) -> Response:
    """The sign-up form."""
    lang = choose_language(request)
    return render(request, "subscribe.html.j2", lang, error=None, email="", name="",
                  language=lang)


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(request: Request, svc: Svc, session: Db,
              language: Annotated[Language, Form()], email: Annotated[str, Form()] = "",
              name: Annotated[str, Form()] = "") -> Response:
    """Send a confirmation link; the answer is the same whether or not the address is known.

    Limited per address, per client and overall; the message goes out after the commit.
    """
    lang = choose_language(request)
    try:
        result = self_service.request(session, svc.settings, svc.tokens, email, name, language,
                                      client_address(request), svc.clock(),
                                      client_ip=request.client.host if request.client else None)
    except ValueError:  # the form again, as the visitor filled it in
        return render(request, "subscribe.html.j2", lang, status=400,
                      error=N_("That does not look like an email address."), email=email,
                      name=name, language=language.value)
    commit(session)
    if result.outcome is Signup.RATE_LIMITED:
        return render(request, "message.html.j2", lang, status=429,
                      headers={"Retry-After": str(result.retry_after or 3600)},
                      title_key=N_("Please wait"),
                      body_key=N_("Too many requests for this address. Try again in an hour."))
    if result.notice is not None:
        transport = svc.transport_factory()
        try:
            result.notice.send(svc.settings, transport)
        finally:
            transport.close()
    return render(request, "message.html.j2", lang, title_key=N_("Check your inbox"),
                  body_key=N_("If the address can receive our digest, we have sent it a link. "
                  "Open it to confirm your subscription."))


@router.get("/confirm/{token}", response_class=HTMLResponse)
@router.post("/confirm/{token}", response_class=HTMLResponse)
@acts_on_get
def confirm(request: Request, token: str, svc: Svc, session: Db) -> Response:
    """Activate a subscription from the emailed link (signed, expiring): one click, as the
    reader expects; a POST does the same, for clients that confirm with one."""
    subscriber_id, signed = svc.tokens.read_signed(
        token, svc.settings.confirm_max_age_hours * 3600)
    try:
        sub = self_service.confirm(session, subscriber_id, signed)
    except self_service.StaleConfirmation as exc:  # the "link does not work" page
        raise ExpiredToken(str(exc)) from None
    except LookupError:  # no such subscriber, or an erased one
        raise HTTPException(404) from None
    commit(session)
    return render(request, "message.html.j2", choose_language(request, page_language(sub.language)),
                  title_key=N_("Subscription confirmed"),
                  body_key=N_("Thank you. You will receive the next monthly digest."))


@router.get("/p/{token}", response_class=HTMLResponse)
def preferences(request: Request, token: str, svc: Svc, session: ReadDb) -> Response:
    """The preferences page from the link in every email (no login: the token is the key)."""
    sub = _subscriber(svc, session, Purpose.PREFERENCES, token)
    return render(request, "preferences.html.j2",
                  choose_language(request, page_language(sub.language)), sub=sub, token=token,
                  saved=None, refused=None, active=sub.state is SubscriberState.ACTIVE)


@router.post("/p/{token}", response_class=HTMLResponse)
def preferences_save(request: Request, token: str, svc: Svc, session: Db,
                     action: Annotated[str, Form()] = "",
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
        raise HTTPException(400)
    commit(session)
    lang = page_language(sub.language) if action == "language" else choose_language(
        request, page_language(sub.language))
    active = sub.state is SubscriberState.ACTIVE
    if action == "resubscribe" and not active:  # bounced or never confirmed: left as it was
        return render(request, "preferences.html.j2", lang, status=409, sub=sub, token=token,
                      saved=None, active=False,
                      refused=N_("Not subscribed again: only an address that unsubscribed can "
                                 "subscribe again here. Nothing has been changed."))
    return render(request, "preferences.html.j2", lang, sub=sub, token=token, saved=saved,
                  refused=None, active=active)


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str, svc: Svc, session: ReadDb) -> Response:
    """A confirm button, not an unsubscribe: link scanners follow GETs."""
    sub = _subscriber(svc, session, Purpose.UNSUBSCRIBE, token)
    return render(request, "unsubscribe.html.j2",
                  choose_language(request, page_language(sub.language)), sub=sub, done=False,
                  token=token)


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str, svc: Svc,
                via: Annotated[str, Form()] = "") -> Response:
    """RFC 8058 one-click: no cookie, login or CSRF token; stored, then 200 (no redirect)."""
    # Committed before the page is rendered (a 200 means committed; a failed commit is a 503
    # the provider retries), so the send's claims and commits wait for no rendering; the
    # requests arriving together on SQLite share a transaction (digest.audience.one_click).
    subscriber_id = svc.tokens.read(Purpose.UNSUBSCRIBE, token)
    reason = ActionReason.LINK if via == "page" else ActionReason.ONE_CLICK  # the page's form
    try:
        sub = svc.one_click.unsubscribe(subscriber_id, reason)
    except LookupError:
        raise HTTPException(404) from None
    except sa.exc.SQLAlchemyError as exc:
        raise CommitFailed() from exc
    return render(request, "unsubscribe.html.j2",
                  choose_language(request, page_language(sub.language)), sub=sub, done=True,
                  token=token)


@router.get("/reviews/{slug}", response_class=HTMLResponse)
def review_page(slug: str, request: Request, svc: Svc, session: ReadDb) -> Response:
    """A published review in full, in the reader's language (the other one, marked, if missing);
    the page each review's title in the email links to."""
    if len(slug) > 120 or not SLUG.fullmatch(slug):
        raise HTTPException(404)
    row = session.exec(select(Review).where(Review.slug == slug)).first()
    if row is None or row.published_at > svc.clock():
        raise HTTPException(404)
    if row.withdrawn_at is not None:
        raise HTTPException(410)  # Gone: it was published, and links to it are out there
    lang = choose_language(request)
    body = localised(row.body_cy, row.body_en, lang)
    published = long_date(row.published_at.astimezone(svc.settings.tz).date(), lang)
    return render(request, "review.html.j2", lang, review=review_view(row), body_lang=body.lang,
                  body=Markup(MARKDOWN.render(body.value)),  # markdown-it escapes the text
                  published=published, reference=citation(row, full=True, with_doi=False),
                  doi=doi_url(row.doi) if row.doi else None)


def _subscriber(svc: Services, session: Session, purpose: Purpose, token: str
                ) -> Subscriber:
    subscriber_id = svc.tokens.read(purpose, token)
    try:
        return self_service.get(session, subscriber_id)
    except LookupError:
        raise HTTPException(404) from None
