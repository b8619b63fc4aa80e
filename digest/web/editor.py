"""Editors' pages (behind the login): issue list, preview, checks and the actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from digest.bounces import service as bounce_service
from digest.delivery import run
from digest.i18n import EDITOR_DOMAIN, N_, event_time, translations
from digest.issue import checks, lifecycle, service
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.store.models import Issue, IssueAction, Language, now_utc
from digest.web.auth import check_csrf, check_login, editor
from digest.web.pages import Db, Svc, choose_language, render, services

router = APIRouter(prefix="/editor")
Editor = Annotated[str, Depends(editor)]
Csrf = Annotated[str, Form()]


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """An editors' page in the editor's language (the toggle, else the browser's, else
    Welsh), from the editors' own catalog; `when(iso)` says a moment in that language."""
    lang, tz = choose_language(request), services(request).settings.tz
    return render(request, template, lang, status, domain=EDITOR_DOMAIN,
                  when=lambda iso: event_time(datetime.fromisoformat(iso), None, tz, lang),
                  **context)


def say(request: Request, message: str, **values: str) -> str:
    """`message` (marked with N_) in the editor's language, with `values` filled in."""
    return translations(choose_language(request), EDITOR_DOMAIN).gettext(message).format(
        **values)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    """The login page."""
    return page(request, "login.html.j2", error=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, svc: Svc, name: Annotated[str, Form()],
          password: Annotated[str, Form()], csrf: Csrf) -> Response:
    """Check the credentials and start a session."""
    check_csrf(request, csrf)
    if not check_login(svc.settings, name, password):
        return page(request, "login.html.j2", 401, error=N_("Wrong name or password."))
    request.session.clear()
    request.session["editor"] = name
    return RedirectResponse("/editor", status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: Csrf) -> Response:
    """End the session."""
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/editor/login", status_code=303)


@router.get("", response_class=HTMLResponse)
def issue_list(request: Request, who: Editor, session: Db) -> Response:
    """Every issue with its state, period, item counts and send progress."""
    return page(request, "editor_issues.html.j2", rows=service.list_issues(session))


@router.get("/issues/{issue_id}", response_class=HTMLResponse)
def issue_page(request: Request, issue_id: int, who: Editor, svc: Svc, session: Db,
               variant: Language = Language.CY, notice: str | None = None) -> Response:
    """The preview: one tab per variant (`?variant=`; `?lang=` is the page's own language) at
    desktop and phone widths, text, checks, history."""
    issue = _issue(session, issue_id)
    stored = service.variants(session, issue)
    return page(request, "editor_issue.html.j2", issue=issue, tab=variant,
                variant=stored.get(variant),
                report=checks.page_checks(session, issue, now_utc(), svc.settings.site_url),
                history=lifecycle.history(session, issue), notice=notice,
                languages=list(Language),
                feedback=bounce_service.issue_feedback(session, issue.id or 0))


@router.get("/issues/{issue_id}/email/{language}", response_class=HTMLResponse)
def email_html(issue_id: int, language: Language, who: Editor, session: Db) -> Response:
    """A variant's HTML as subscribers get it (personal links point nowhere in the preview)."""
    variant = service.variants(session, _issue(session, issue_id)).get(language)
    if variant is None:
        raise HTTPException(404)
    html = variant.html.replace(UNSUB_PLACEHOLDER, "preview").replace(PREFS_PLACEHOLDER,
                                                                      "preview")
    return HTMLResponse(html)


@router.post("/issues/{issue_id}/check-links")
def check_links(request: Request, issue_id: int, who: Editor, svc: Svc, session: Db,
                csrf: Csrf) -> Response:
    """Request every link in the email and keep what answered, for the issue's page."""
    check_csrf(request, csrf)
    issue = _issue(session, issue_id)
    found = checks.issue_checks(session, issue, now_utc(), svc.settings.site_url)
    urls = next(c.details for c in found if c.name == "links")
    results = checks.check_links(urls)
    checks.record_link_check(session, issue, results, now_utc())
    broken = sum(1 for _, ok, _ in results if not ok)
    return _back(issue_id, Language.CY, say(request, N_("Links checked: {n} of {total} did not "
                                                        "answer well."),
                                            n=str(broken), total=str(len(results))))


@router.post("/issues/{issue_id}/test")
def test_send(request: Request, issue_id: int, who: Editor, svc: Svc, session: Db,
              csrf: Csrf, address: Annotated[str, Form()],
              language: Annotated[Language, Form()]) -> Response:
    """Send one variant, marked as a test, to an address; the outbox is untouched."""
    check_csrf(request, csrf)
    issue = _issue(session, issue_id)
    results = run.send_tests(svc.settings, svc.engine, issue.id or 0, [address.strip()],
                                 svc.transport_factory(), languages=[language])
    lifecycle.record(session, issue, who, IssueAction.TEST_SENT,
                     f"test of {language.value} sent to {address.strip()}: {results[0][2]}")
    return _back(issue_id, language, say(request, N_("Test sent to {address}: {reply}"),
                                         address=address.strip(), reply=results[0][2]))


@router.post("/issues/{issue_id}/approve")
def approve(request: Request, issue_id: int, who: Editor, session: Db, csrf: Csrf,
            reason: Annotated[str, Form()] = "") -> Response:
    """Approve; refused while the translation check fails unless a reason is given."""
    check_csrf(request, csrf)
    issue = _issue(session, issue_id)
    try:
        lifecycle.approve(session, issue, who, force_reason=reason.strip() or None)
    except lifecycle.TranslationCheckFailed:
        return _back(issue_id, Language.CY, say(
            request, N_("Not approved: the translation check fails. Fix the problems, or give "
                        "a reason to approve anyway.")))
    except lifecycle.TransitionError:
        return _back(issue_id, Language.CY, say(
            request, N_("Not approved: only a draft can be approved.")))
    return _back(issue_id, Language.CY, say(request, N_("Approved by {name}."), name=who))


@router.post("/issues/{issue_id}/cancel")
def cancel(request: Request, issue_id: int, who: Editor, session: Db, csrf: Csrf,
           reason: Annotated[str, Form()]) -> Response:
    """Cancel the issue."""
    check_csrf(request, csrf)
    try:
        lifecycle.cancel(session, _issue(session, issue_id), who, reason.strip() or "-")
    except lifecycle.TransitionError:
        return _back(issue_id, Language.CY, say(
            request, N_("Not cancelled: only a draft or an approved issue can be cancelled.")))
    return _back(issue_id, Language.CY, say(request, N_("Cancelled by {name}."), name=who))


@router.post("/issues/{issue_id}/replan")
def replan(request: Request, issue_id: int, who: Editor, svc: Svc, session: Db,
           csrf: Csrf) -> Response:
    """Re-select a draft's items as of now and re-render it."""
    check_csrf(request, csrf)
    try:
        service.replan(session, svc.settings, _issue(session, issue_id), now_utc(), who)
    except (lifecycle.TransitionError, ValueError):
        return _back(issue_id, Language.CY, say(
            request, N_("Not replanned: only a draft can be replanned, and only during its own "
                        "month.")))
    return _back(issue_id, Language.CY, say(request, N_("Replanned by {name}."), name=who))


@router.post("/issues/{issue_id}/send")
def start_send(request: Request, issue_id: int, who: Editor, svc: Svc, session: Db,
               csrf: Csrf, tasks: BackgroundTasks) -> Response:
    """Start sending an approved issue in the background; progress shows on the list."""
    check_csrf(request, csrf)
    issue = _issue(session, issue_id)
    if lifecycle.can_start_sending(issue) is not None:
        return _back(issue_id, Language.CY, say(
            request, N_("Not sent: only an approved issue can be sent.")))
    settings = svc.settings
    session.commit()  # the send takes the write lock itself; this request must not hold it
    tasks.add_task(run.send_issue, svc.engine, settings, issue_id, svc.transport_factory,
                   connections=settings.send_connections,
                   actor=who)
    return _back(issue_id, Language.CY, say(request, N_("Sending started by {name}."),
                                            name=who))


def _issue(session: Session, issue_id: int) -> Issue:
    try:
        return service.get_issue(session, issue_id)
    except service.IssueNotFound:
        raise HTTPException(404) from None


def _back(issue_id: int, language: Language, notice: str) -> Response:
    query = urlencode({"variant": language.value, "notice": notice})
    return RedirectResponse(f"/editor/issues/{issue_id}?{query}", status_code=303)
