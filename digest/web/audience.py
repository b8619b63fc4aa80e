"""The audience's pages: the editors' subscribers list, a subscriber's page and its actions,
the exports (behind the login, in Welsh and English); the click counter, the report pages and
subscribers' own privacy pages are included from their modules."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlmodel import Session

from digest.audience import directory, export, gdpr, history, self_service
from digest.audience.address import stored_form
from digest.audience.directory import Filter
from digest.i18n import EDITOR_DOMAIN, N_
from digest.store.models import ActionReason, Language, Subscriber, SubscriberState
from digest.web import clicks, privacy, reports
from digest.web.pages import (
    Db,
    QueryId,
    ReadDb,
    Router,
    RowId,
    Svc,
    choose_language,
    render,
    services,
    site_redirect,
)
from digest.web.sessions import Editor, check_csrf

router = Router()
router.include_router(clicks.router)
router.include_router(privacy.router)
router.include_router(reports.router)
pages = Router(prefix="/editor/subscribers")
Csrf = Annotated[str, Form()]

# What the pages call states, languages, actions and reasons (the catalog translates them).
LABELS = {
    "pending": N_("pending"), "active": N_("active"), "unsubscribed": N_("unsubscribed"),
    "bounced": N_("bounced"), "erased": N_("erased"), "cy": N_("Welsh"), "en": N_("English"),
    "both": N_("bilingual"), "subscribed": N_("subscribed"), "confirmed": N_("confirmed"),
    "language_changed": N_("language changed"), "resubscribed": N_("resubscribed"),
    "import": N_("import"), "web": N_("web sign-up"), "legacy": N_("unknown (legacy)"),
    "link": N_("link"), "one_click": N_("one-click"), "complaint": N_("complaint"),
    "editor": N_("editor"), "smtp": N_("refused by the relay"),
    "bounce_report": N_("bounce report"), "sent": N_("sent"),
    "failed": N_("failed"), "skipped": N_("skipped"), "retry": N_("retry"),
    "sending": N_("sending"),
}
NOTICES = {
    "unsubscribed": N_("Unsubscribed. The change is in the history under your name."),
    "language": N_("Language changed. The change is in the history under your name."),
    "erased": N_("Erased. The address and name are gone; the address is on the suppression "
                 "list."),
    "not-erased": N_("Not erased: type the subscriber's address exactly to confirm."),
}


def _filter(q: str, state: str, language: str) -> Filter:
    """The list's filter from the query string (unknown values are ignored)."""
    states = {s.value: s for s in SubscriberState}
    languages = {lang.value: lang for lang in Language}
    return Filter(q=q[:200], state=states.get(state), language=languages.get(language))


@pages.get("", response_class=HTMLResponse)
def subscriber_list(request: Request, who: Editor, session: ReadDb, q: str = "",
                    state: str = "", language: str = "", before: QueryId = None,
                    after: QueryId = None) -> Response:
    """Search, filters, counts per state and language, and one page of subscribers."""
    f = _filter(q, state, language)
    counts = directory.counts(session)
    page = directory.page(session, f, before=before, after=after)
    query = {k: v for k, v in (("q", f.q), ("state", f.state.value if f.state else ""),
                               ("language", f.language.value if f.language else "")) if v}
    return render(request, "editor_subscribers.html.j2", choose_language(request),
                  domain=EDITOR_DOMAIN, csrf=who.csrf, editor_name=who.name, f=f,
                  counts=counts, page=page, states=list(SubscriberState),
                  languages=list(Language), labels=LABELS, query=urlencode(query),
                  matching=counts.matching(f))


@pages.get("/export.csv")
def export_csv(who: Editor, svc: Svc, q: str = "", state: str = "",
               language: str = "") -> Response:
    """The list (with the page's filter) as CSV, streamed as it is read."""
    return StreamingResponse(
        export.stream_csv(svc.engine, _filter(q, state, language)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'})


@pages.get("/{sid}", response_class=HTMLResponse)
def subscriber_page(request: Request, sid: RowId, who: Editor, session: ReadDb,
                    notice: str = "") -> Response:
    """Consent record, language and event histories, deliveries, and the actions."""
    sub = _subscriber(session, sid)
    events = history.events_of(session, sid)
    return render(request, "editor_subscriber.html.j2", choose_language(request),
                  domain=EDITOR_DOMAIN, csrf=who.csrf, editor_name=who.name, sub=sub,
                  consent=history.consent_of(session, sid), events=events,
                  languages_over_time=history.language_history(events),
                  deliveries=history.deliveries_of(session, sid), labels=LABELS,
                  languages=list(Language), notice=NOTICES.get(notice))


@pages.get("/{sid}/export.json")
def person_json(sid: RowId, who: Editor, session: ReadDb) -> Response:
    """Everything held about this person, as a JSON download (a GDPR access request)."""
    data = gdpr.export_person(session, _subscriber(session, sid).id or 0)
    return Response(json.dumps(data, ensure_ascii=False, indent=2),
                    media_type="application/json; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="subscriber-{sid}.json"'})


@pages.post("/{sid}/unsubscribe")
def unsubscribe(request: Request, sid: RowId, who: Editor, session: Db, csrf: Csrf) -> Response:
    """Unsubscribe on the person's behalf (recorded with the editor's name)."""
    check_csrf(who, csrf)
    try:
        self_service.unsubscribe(session, sid, reason=ActionReason.EDITOR, actor=who.name)
    except LookupError:  # unknown or erased
        raise HTTPException(404) from None
    session.commit()  # before the answer: the page it redirects to must show the change
    return _back(request, sid, "unsubscribed")


@pages.post("/{sid}/language")
def change_language(request: Request, sid: RowId, who: Editor, session: Db, csrf: Csrf,
                    language: Annotated[Language, Form()]) -> Response:
    """Change the language on the person's behalf (recorded with the editor's name)."""
    check_csrf(who, csrf)
    try:
        self_service.set_language(session, sid, language, actor=who.name,
                                  reason=ActionReason.EDITOR)
    except LookupError:  # unknown or erased
        raise HTTPException(404) from None
    session.commit()
    return _back(request, sid, "language")


@pages.post("/{sid}/erase")
def erase(request: Request, sid: RowId, who: Editor, svc: Svc, session: Db, csrf: Csrf,
          confirm: Annotated[str, Form()] = "") -> Response:
    """Erase the person's data; the address typed again is the confirmation."""
    check_csrf(who, csrf)
    sub = _subscriber(session, sid)
    if sub.state is SubscriberState.ERASED:
        return _back(request, sid, "erased")
    if stored_form(confirm) != sub.email:
        return _back(request, sid, "not-erased")
    try:
        gdpr.erase(session, svc.settings, sid, who.name)
    except gdpr.NotFound:  # erased meanwhile, by another request
        session.rollback()
        return _back(request, sid, "erased")
    session.commit()
    return _back(request, sid, "erased")


def _subscriber(session: Session, sid: int) -> Subscriber:
    sub = session.get(Subscriber, sid)
    if sub is None:
        raise HTTPException(404)
    return sub


def _back(request: Request, sid: int, notice: str) -> Response:
    return site_redirect(services(request).settings,
                         f"/editor/subscribers/{sid}?{urlencode({'notice': notice})}")


router.include_router(pages)
