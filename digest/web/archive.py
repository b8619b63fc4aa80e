"""The archive on the site: the list of sent issues by month, and each issue as it was sent,
inside the site's header and footer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from digest.i18n import LANGS, month_label, translations
from digest.issue import links
from digest.issue.archive import public_copy, sent_issue, sent_issues
from digest.store.models import Issue, Language
from digest.web.links import feed_links
from digest.web.pages import ReadDb, Router, Svc, choose_language, negotiated, render

router = Router()
PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
# The stored email's parts that the framed page keeps: everything in <head>, and <body>.
_HEAD = re.compile(r"<head>(.*?)</head>", re.DOTALL)
_BODY = re.compile(r"<body([^>]*)>(.*)</body>", re.DOTALL)
_HTML_LANG = re.compile(r'<html lang="([a-z]+)"')


@dataclass(frozen=True)
class ArchiveEntry:
    """One line of the archive: the month in the reader's language, what was in it, and the
    issue's other variants (only those it was sent in)."""

    period: str
    month: str
    summary: str
    also: tuple[Language, ...]  # the other language first, then the bilingual one


@router.get("/archive", response_class=HTMLResponse)
def archive(request: Request, session: ReadDb) -> Response:
    """Every sent issue, newest first, by month name, each with its summary line."""
    lang = choose_language(request)
    order = [Language(code) for code in LANGS if code != lang] + [Language.BOTH]
    entries = [ArchiveEntry(a.period, month_label(_first_day(a.period), lang),
                            a.variants[Language(lang)].preheader,
                            tuple(other for other in order if other in a.variants))
               for a in sent_issues(session) if Language(lang) in a.variants]
    return render(request, "archive.html.j2", lang, entries=entries)


@router.get("/archive/{period}/{language}", response_class=HTMLResponse)
def archive_issue(request: Request, period: str, language: Language, svc: Svc,
                  session: ReadDb) -> Response:
    """A sent issue as it was sent, in the site's frame: a way back to the list and to the
    other languages, links to the configured site, no personal lines in its footer."""
    found = sent_issue(session, period) if PERIOD.fullmatch(period) else None
    if found is None or language not in found.variants:
        raise HTTPException(404)
    # The page speaks the variant's language; the bilingual one, the reader's.
    lang = language.value if language is not Language.BOTH else choose_language(request)
    site = svc.settings.site_url.rstrip("/")
    invitation = {code: translations(code).gettext("Get the digest every month")
                  for code in LANGS}
    issue = session.get(Issue, found.id)
    assert issue is not None
    # Archive visitors are not the email's readers: their clicks are not counted.
    html = links.direct(session, issue, public_copy(found.variants[language].html, site,
                                                    invitation), site)
    head, body = _HEAD.search(html), _BODY.search(html)
    if head is None or body is None:
        raise ValueError(f"stored variant {period}/{language.value} is not a whole document")
    t = translations(lang)
    page = svc.pages.get_template("archive_issue.html.j2").render(
        _=t.gettext, lang=lang, site=site, period=period, variant=language,
        month=month_label(_first_day(period), lang), languages=list(Language),
        html_lang=(m.group(1) if (m := _HTML_LANG.search(html)) else lang),
        email_head=Markup(head.group(1)), body_attrs=Markup(body.group(1)),
        email_body=Markup(body.group(2)), feeds=feed_links(site, lang))  # our stored HTML
    if language is not Language.BOTH:  # the variant's language, whoever asks
        return HTMLResponse(page)
    return negotiated(request, HTMLResponse(page), lang)


def _first_day(period: str) -> date:
    year, month = period.split("-")
    return date(int(year), int(month), 1)
