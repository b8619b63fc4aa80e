"""The archive: the sent issues with their stored variants, and an issue's public copy (the
email as sent, less the lines that speak to one subscriber)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from markupsafe import escape
from sqlmodel import Session, col, select

from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.store.models import Issue, IssueAction, IssueEvent, IssueState, IssueVariant, Language

# The footer's personal lines (templates/email/footer.mjml.j2), with the language of their block.
_PERSONAL = re.compile(
    r'(<div lang="(cy|en)" class="footer"[^>]*>)<span class="personal">.*?</span>', re.DOTALL)
# "View in your browser": the site the issue was rendered for.
_VIEW_ONLINE = re.compile(r'href="(https?://[^"]+?)/archive/\d{4}-\d{2}/(?:cy|en|both)"')
_PERSONAL_LINK = re.compile(rf'https?://[^"]*/(?:u/{UNSUB_PLACEHOLDER}|p/{PREFS_PLACEHOLDER})')


@dataclass(frozen=True)
class ArchivedIssue:
    """A sent issue: when it went out, and its variants by language."""

    id: int
    period: str
    sent_at: datetime  # when sending started
    variants: dict[Language, IssueVariant]


def sent_issues(session: Session, limit: int | None = None) -> list[ArchivedIssue]:
    """The sent issues, newest period first (at most `limit`)."""
    query = (select(Issue).where(Issue.state == IssueState.SENT)
             .order_by(col(Issue.period).desc()))
    issues = session.exec(query.limit(limit) if limit else query).all()
    ids = [i.id for i in issues]
    started: dict[int, datetime] = dict(session.execute(  # type: ignore[call-overload]
        sa.select(col(IssueEvent.issue_id), sa.func.min(IssueEvent.at))
        .where(col(IssueEvent.issue_id).in_(ids),
               col(IssueEvent.action).in_([IssueAction.SEND_STARTED, IssueAction.SENT]))
        .group_by(col(IssueEvent.issue_id))).all())
    stored: dict[int, dict[Language, IssueVariant]] = {i: {} for i in ids if i is not None}
    for variant in session.exec(select(IssueVariant).where(col(IssueVariant.issue_id).in_(ids))):
        stored[variant.issue_id][variant.language] = variant
    return [ArchivedIssue(i.id or 0, i.period, started.get(i.id or 0, i.created_at),
                          stored[i.id or 0]) for i in issues]


def sent_issue(session: Session, period: str) -> ArchivedIssue | None:
    """One sent issue by period, or None (not there, or not sent)."""
    return next((a for a in sent_issues(session) if a.period == period), None)


def public_copy(html: str, site: str, invitation: dict[str, str]) -> str:
    """The stored email as the archive shows it: each footer's personal lines replaced by an
    invitation to subscribe in that block's language (`invitation[lang]`, plain text), and
    links to our own site pointing at `site` (the configured one) whatever site it was
    rendered for."""
    site = site.rstrip("/")
    if (found := _VIEW_ONLINE.search(html)) and found.group(1) != site:
        html = html.replace(f'href="{found.group(1)}/', f'href="{site}/')

    def invite(match: re.Match[str]) -> str:
        lang = match.group(2)
        return (f'{match.group(1)}<a href="{site}/subscribe?lang={lang}">'
                f"{escape(invitation[lang])}</a>")

    html = _PERSONAL.sub(invite, html)
    return _PERSONAL_LINK.sub(f"{site}/subscribe", html)  # issues rendered before the markers

