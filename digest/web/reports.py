"""The report pages (behind the login): per issue and per year, with SVG charts, and each
as CSV. The values are digest.audience.reports', the same as `digest report ... --json`."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from digest.audience import reports
from digest.audience.reports import Report
from digest.i18n import BABEL_LOCALE, EDITOR_DOMAIN, N_, translations
from digest.issue.service import IssueNotFound, get_issue
from digest.store.models import Issue, IssueState, Subscriber, now_utc
from digest.web.charts import Series, stacked_bars
from digest.web.pages import Number, ReadDb, Router, Svc, choose_language, render
from digest.web.sessions import Editor, EditorLogin

router = Router(prefix="/editor/reports")
LANGUAGE_LABELS = {"cy": N_("Welsh"), "both": N_("bilingual"), "en": N_("English"),
                   "total": N_("Total")}
TITLES = {
    "delivery": N_("Delivery, per language"), "clicks": N_("Clicks per item and language"),
    "month_end_active": N_("Active subscribers at each month's end"),
    "signups": N_("Sign-ups per month"), "left": N_("Leavers per month"),
    "issues_sent": N_("Issues sent and their reach"),
}
KEYS = {"sent": N_("sent"), "failed": N_("failed"), "bounced": N_("bounced"),
        "unsubscribed": N_("unsubscribed within 30 days"),
        "complaints": N_("complaints within 30 days")}
SHORT = {"sent": N_("sent"), "failed": N_("failed"), "bounced": N_("bounced"),
         "unsubscribed": N_("unsubscribed"), "complaints": N_("complaints")}
FACTS = {
    "state": N_("State"), "send_started": N_("Send started (UTC)"),
    "window_days": N_("Days counted after the send"),
    "clicks_counted": N_("Clicks counted"), "ignored_requests": N_("Requests not counted "
                                                                   "(link scanners)"),
    "active_at_start": N_("Active at the start of the year"),
    "active_at_end": N_("Active at the end of the year"),
    "welsh_share_at_end": N_("Share reading in Welsh at the end"),
    "bilingual_share_at_end": N_("Share reading bilingually at the end"),
    "welsh_or_bilingual_share_at_end": N_("Share reading Welsh or bilingual at the end"),
    "welsh_or_bilingual_share_at_start": N_("Share reading Welsh or bilingual at the start"),
    "signups": N_("Sign-ups in the year"), "issues_sent": N_("Issues sent"),
    "reach": N_("Reach (messages delivered to the relay)"),
}


@router.get("", response_class=HTMLResponse)
def report_index(request: Request, who: Editor, session: ReadDb) -> Response:
    """The issues and years there are reports for."""
    issues = session.exec(select(Issue).where(col(Issue.state).in_(
        [IssueState.SENDING, IssueState.SENT])).order_by(col(Issue.period).desc())).all()
    first = session.exec(select(Subscriber.created_at).order_by(
        col(Subscriber.created_at))).first()
    this_year = now_utc().year
    years = sorted({int(i.period[:4]) for i in issues}
                   | (set(range(first.year, this_year + 1)) if first else set()), reverse=True)
    return render(request, "editor_reports.html.j2", choose_language(request),
                  domain=EDITOR_DOMAIN, csrf=who.csrf, editor_name=who.name,
                  issues=issues, years=years)


@router.get("/issues/{period}.csv")
def issue_csv(period: str, who: Editor, svc: Svc, session: ReadDb) -> Response:
    """The issue report as CSV."""
    return _csv(reports.issue_report(session, svc.settings, _issue(session, period)),
                f"report-{period}.csv")


@router.get("/issues/{period}", response_class=HTMLResponse)
def issue_page(request: Request, period: str, who: Editor, svc: Svc,
               session: ReadDb) -> Response:
    """The issue report with its charts."""
    report = reports.issue_report(session, svc.settings, _issue(session, period))
    return _page(request, who, report, f"/editor/reports/issues/{period}.csv")


@router.get("/years/{year}.csv")
def year_csv(year: Number, who: Editor, svc: Svc, session: ReadDb) -> Response:
    """The yearly report as CSV."""
    return _csv(reports.year_report(session, svc.settings, _year(year)), f"report-{year}.csv")


@router.get("/years/{year}", response_class=HTMLResponse)
def year_page(request: Request, year: Number, who: Editor, svc: Svc,
              session: ReadDb) -> Response:
    """The yearly report (Welsh Language Standards) with its charts."""
    report = reports.year_report(session, svc.settings, _year(year))
    return _page(request, who, report, f"/editor/reports/years/{year}.csv")


def _page(request: Request, who: EditorLogin, report: Report, csv_url: str) -> Response:
    lang = choose_language(request)
    t = translations(lang, EDITOR_DOMAIN)
    charts = []
    for name, table in report.tables.items():
        short = name == "clicks"  # item titles are long: the chart numbers them
        categories = [ln.key.split(":")[0] if short else _month(ln.key, lang)
                      for ln in table.lines]
        langs = ("cy", "en") if short else ("cy", "both", "en")
        series = [Series(k, t.gettext(LANGUAGE_LABELS[k]),
                         [getattr(ln, k) for ln in table.lines]) for k in langs]
        if name == "delivery":  # short labels under the bars; the table has the long ones
            categories = [t.gettext(SHORT.get(ln.key, ln.key)) for ln in table.lines]
        charts.append((name, stacked_bars(t.gettext(TITLES.get(name, name)), categories,
                                          series)))
    return render(request, "editor_report.html.j2", lang, domain=EDITOR_DOMAIN, csrf=who.csrf,
                  editor_name=who.name, report=report, charts=charts,
                  titles=TITLES, keys=KEYS, facts=FACTS, csv_url=csv_url,
                  languages=LANGUAGE_LABELS)


def _csv(report: Report, filename: str) -> Response:
    return Response(reports.to_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _issue(session: Session, period: str) -> Issue:
    try:
        return get_issue(session, period)
    except IssueNotFound:
        raise HTTPException(404) from None


def _year(year: int) -> int:
    if not 2000 <= year <= 2999:
        raise HTTPException(404)
    return year


def _month(key: str, lang: str) -> str:
    """'2026-03' as 'Maw' / 'Mar' (Babel); any other key unchanged."""
    if len(key) != 7 or key[4] != "-" or not key.replace("-", "").isdigit():
        return key
    return format_date(date(int(key[:4]), int(key[5:]), 1), "LLL", locale=BABEL_LOCALE[lang])
