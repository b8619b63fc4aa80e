"""Editors' pages (behind the login): issue list, preview, checks and the actions.

Every action commits before it answers, and says what it did with a notice code (the page
shows the app's own text for it, never text taken from the URL).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import BackgroundTasks, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from digest.audience.csv_import import normalise_email
from digest.bounces import service as bounce_service
from digest.delivery import proofs, run
from digest.i18n import EDITOR_DOMAIN, event_time
from digest.issue import checks, lifecycle, service
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.settings import InsecureSecretKey, SettingInvalid, Settings
from digest.store.models import Issue, IssueAction, Language, now_utc
from digest.text import MAX_REASON, recorded
from digest.web.notices import Notice, notice_text
from digest.web.pages import (
    Db,
    ReadDb,
    Router,
    Svc,
    choose_language,
    commit,
    parse_id,
    render,
    services,
    site_redirect,
)
from digest.web.sessions import Editor, EditorLogin, check_csrf

log = logging.getLogger("digest.web")
router = Router(prefix="/editor")
Csrf = Annotated[str, Form()]
Refusal = type[Exception] | tuple[type[Exception], ...]


def page(request: Request, who: EditorLogin, template: str, status: int = 200,
         **context: Any) -> Response:
    """An editors' page in the editor's language (the toggle, else the browser's, else
    Welsh), from the editors' own catalog; `when(iso)` says a moment in that language."""
    lang, tz = choose_language(request), services(request).settings.tz
    return render(request, template, lang, status, domain=EDITOR_DOMAIN, csrf=who.csrf,
                  editor_name=who.name,
                  when=lambda iso: event_time(datetime.fromisoformat(iso), None, tz, lang),
                  **context)


@router.get("", response_class=HTMLResponse)
def issue_list(request: Request, who: Editor, session: ReadDb) -> Response:
    """Every issue with its state, period, item counts and send progress."""
    return page(request, who, "editor_issues.html.j2", rows=service.list_issues(session))


@router.get("/issues/{issue_id}", response_class=HTMLResponse)
def issue_page(request: Request, issue_id: str, who: Editor, svc: Svc, session: ReadDb,
               variant: Language = Language.CY, notice: str | None = None) -> Response:
    """The preview: one tab per variant (`?variant=`; `?lang=` is the page's own language) at
    desktop and phone widths, text, checks, history."""
    issue = _issue(session, issue_id)
    return _issue_page(request, who, svc.settings, session, issue, variant,
                       notice_text(notice, choose_language(request)))


def _issue_page(request: Request, who: EditorLogin, settings: Settings, session: Session,
                issue: Issue, tab: Language, notice: str | None, status: int = 200) -> Response:
    stored = service.variants(session, issue)
    return page(request, who, "editor_issue.html.j2", status, issue=issue, tab=tab,
                variant=stored.get(tab),
                report=checks.page_checks(session, issue, now_utc(), settings.site_url),
                history=lifecycle.history(session, issue), notice=notice,
                languages=list(Language), max_reason=MAX_REASON,
                feedback=bounce_service.issue_feedback(session, issue.id or 0))


@router.get("/issues/{issue_id}/email/{language}", response_class=HTMLResponse)
def email_html(issue_id: str, language: Language, who: Editor, session: ReadDb) -> Response:
    """A variant's HTML as subscribers get it, for the preview's sandboxed frames (personal
    links point nowhere); its own CSP also sandboxes it when opened on its own."""
    variant = service.variants(session, _issue(session, issue_id)).get(language)
    if variant is None:
        raise HTTPException(404)
    html = variant.html.replace(UNSUB_PLACEHOLDER, "preview").replace(PREFS_PLACEHOLDER,
                                                                      "preview")
    return HTMLResponse(html)


@router.post("/issues/{issue_id}/check-links")
def check_links(issue_id: str, who: Editor, svc: Svc, session: Db,
                csrf: Csrf = "") -> Response:
    """Request every link in the email and keep what answered, for the issue's page; refused
    for an issue that is sending or sent (its page shows the checks as they were then)."""
    check_csrf(who, csrf)
    issue = _issue(session, issue_id)
    if issue.state in checks.STARTED:  # its page shows the checks kept when sending started
        return _back(svc.settings, issue, Language.CY, Notice.LINKS_NOT_CHECKED)
    found = checks.issue_checks(session, issue, now_utc(), svc.settings.site_url)
    urls = next(c.details for c in found if c.name == "links")
    checks.record_link_check(session, issue, checks.check_links(urls), now_utc())
    commit(session)
    return _back(svc.settings, issue, Language.CY, Notice.LINKS_CHECKED)


def test_address(raw: str) -> str | None:
    """One plain address for a test send, or None (line breaks, lists, not an address)."""
    if any(c in raw for c in "\r\n\0,;") or len(raw) > 320:
        return None
    try:
        return normalise_email(raw)
    except ValueError:
        return None


@router.post("/issues/{issue_id}/test")
def test_send(request: Request, issue_id: str, who: Editor, svc: Svc, session: Db,
              csrf: Csrf = "", address: Annotated[str, Form()] = "",
              language: Annotated[str, Form()] = "") -> Response:
    """Send one variant, marked as a test, to an address; the outbox is untouched."""
    check_csrf(who, csrf)
    issue = _issue(session, issue_id)
    tab = next((lang for lang in service.variants(session, issue) if lang.value == language),
               None)
    if tab is None:  # none chosen, or one the issue does not have (a skipped period)
        return _issue_page(request, who, svc.settings, session, issue, Language.CY,
                           notice_text(Notice.TEST_NO_VARIANT, choose_language(request)),
                           status=400)
    to = test_address(address)
    if to is None:  # refused: the page again, with the reason in its status box
        return _issue_page(request, who, svc.settings, session, issue, tab,
                           notice_text(Notice.TEST_REFUSED, choose_language(request)),
                           status=400)
    try:
        run.preflight(svc.settings)
    except (SettingInvalid, InsecureSecretKey) as exc:
        log.warning("test of %s not sent: %s", issue.period, exc)
        return _issue_page(request, who, svc.settings, session, issue, tab,
                           notice_text(Notice.NOT_SENT_SETTINGS, choose_language(request)),
                           status=400)
    commit(session)  # the test send reads in its own transaction
    results = proofs.send_tests(svc.settings, svc.engine, issue.id or 0, [to],
                                svc.transport_factory(), languages=[tab])
    lifecycle.record(session, issue, who.name, IssueAction.TEST_SENT,
                     f"test of {tab.value} sent to {to}: {results[0][2]}")
    commit(session)
    return _back(svc.settings, issue, tab, Notice.TEST_SENT)


@router.post("/issues/{issue_id}/approve")
def approve(issue_id: str, who: Editor, svc: Svc, session: Db, csrf: Csrf = "",
            reason: Annotated[str, Form()] = "") -> Response:
    """Approve; refused while the translation check fails unless a reason is given."""
    check_csrf(who, csrf)
    issue = _issue(session, issue_id)
    try:  # the CLI's rule for --reason: refused, not rewritten
        given = recorded(reason, MAX_REASON) if reason.strip() else None
    except ValueError:
        return _back(svc.settings, issue, Language.CY, Notice.REASON_REFUSED)
    return _transition(
        svc.settings, session, issue,
        lambda: lifecycle.approve(session, issue, who.name, force_reason=given),
        Notice.APPROVED, [(lifecycle.TranslationCheckFailed, Notice.NOT_APPROVED_TRANSLATIONS),
                          (lifecycle.EmptyIssue, Notice.NOT_APPROVED_EMPTY),
                          (lifecycle.WithdrawnItems, Notice.NOT_APPROVED_WITHDRAWN),
                          (lifecycle.TransitionError, Notice.NOT_APPROVED)])


@router.post("/issues/{issue_id}/cancel")
def cancel(issue_id: str, who: Editor, svc: Svc, session: Db, csrf: Csrf = "",
           reason: Annotated[str, Form()] = "") -> Response:
    """Cancel the issue."""
    return _with_reason(svc.settings, session, who, csrf, issue_id, reason, lifecycle.cancel,
                        Notice.CANCELLED, Notice.NOT_CANCELLED)


@router.post("/issues/{issue_id}/reopen")
def reopen(issue_id: str, who: Editor, svc: Svc, session: Db, csrf: Csrf = "",
           reason: Annotated[str, Form()] = "") -> Response:
    """Take an approved issue back to draft."""
    return _with_reason(svc.settings, session, who, csrf, issue_id, reason, lifecycle.reopen,
                        Notice.REOPENED, Notice.NOT_REOPENED)


def _with_reason(settings: Settings, session: Session, who: EditorLogin, csrf: str,
                 issue_id: str, reason: str, step: Callable[[Session, Issue, str, str], None],
                 done: Notice, refused: Notice) -> Response:
    """A lifecycle step that records a required one-line reason (cancel, reopen)."""
    check_csrf(who, csrf)
    issue = _issue(session, issue_id)
    try:
        given = recorded(reason, MAX_REASON)
    except ValueError:
        return _back(settings, issue, Language.CY, Notice.REASON_REFUSED)
    return _transition(settings, session, issue, lambda: step(session, issue, who.name, given),
                       done, [(lifecycle.TransitionError, refused)])


@router.post("/issues/{issue_id}/replan")
def replan(issue_id: str, who: Editor, svc: Svc, session: Db, csrf: Csrf = "") -> Response:
    """Re-select a draft's items as of now and re-render it."""
    check_csrf(who, csrf)
    issue = _issue(session, issue_id)
    return _transition(
        svc.settings, session, issue,
        lambda: service.replan(session, svc.settings, issue, now_utc(), who.name),
        Notice.REPLANNED, [(service.NothingNew, Notice.NOT_REPLANNED_NOTHING_NEW),
                           ((lifecycle.TransitionError, ValueError), Notice.NOT_REPLANNED)])


def _transition(settings: Settings, session: Session, issue: Issue, change: Callable[[], object],
                done: Notice, refusals: Sequence[tuple[Refusal, Notice]]) -> Response:
    """Run `change` and commit it; a refusal rolls back and answers with its notice (the
    first pair whose exception types match, so a subclass goes before its base)."""
    try:
        change()
    except Exception as exc:
        refused = next((n for kinds, n in refusals if isinstance(exc, kinds)), None)
        if refused is None:
            raise
        session.rollback()
        return _back(settings, issue, Language.CY, refused)
    commit(session)
    return _back(settings, issue, Language.CY, done)


@router.post("/issues/{issue_id}/send")
def start_send(issue_id: str, who: Editor, svc: Svc, session: Db, tasks: BackgroundTasks,
               csrf: Csrf = "") -> Response:
    """Start sending an approved issue in the background; progress shows on the list."""
    check_csrf(who, csrf)
    issue = _issue(session, issue_id)
    if lifecycle.can_start_sending(issue) is not None:
        return _back(svc.settings, issue, Language.CY, Notice.NOT_SENT)
    try:  # the send would refuse it in the background, unseen
        lifecycle.refuse_first_send(session, issue)
    except lifecycle.WithdrawnItems:
        return _back(svc.settings, issue, Language.CY, Notice.NOT_SENT_WITHDRAWN)
    settings = svc.settings
    try:  # what the send would refuse only after this answered: the issue stays approved
        run.preflight(settings)
    except (SettingInvalid, InsecureSecretKey) as exc:
        log.warning("send of %s not started: %s", issue.period, exc)
        return _back(settings, issue, Language.CY, Notice.NOT_SENT_SETTINGS)
    commit(session)  # the send takes the write lock itself; this request must not hold it
    tasks.add_task(run.send_issue, svc.engine, settings, issue.id or 0, svc.transport_factory,
                   connections=settings.send_connections, actor=who.name)
    return _back(settings, issue, Language.CY, Notice.SENDING)


def issue_by_id(session: Session, issue_id: str) -> Issue:
    """The issue a path segment names; anything else is a 404."""
    try:
        return service.get_issue(session, parse_id(issue_id))
    except service.IssueNotFound:
        raise HTTPException(404) from None


_issue = issue_by_id


def _back(settings: Settings, issue: Issue, variant: Language, notice: Notice) -> Response:
    return site_redirect(settings, f"/editor/issues/{issue.id}?variant={variant.value}"
                                   f"&notice={notice.value}")
