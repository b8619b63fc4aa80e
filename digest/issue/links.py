"""The targets of an issue's links, from its frozen items: what the click counter redirects
to (never a URL from the request), and what the link check requests for counted links."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from digest.render.links import target
from digest.render.views import news_view, review_view
from digest.store.models import Issue, IssueItem, ItemKind, News, Review, Seminar


def item_target(session: Session, issue: Issue, position: int, lang: str, site: str
                ) -> str | None:
    """Where item `position` of `issue` links in `lang`, or None (no such item, no link)."""
    row = session.exec(select(IssueItem).where(IssueItem.issue_id == issue.id,
                                               IssueItem.position == position)).first()
    if row is None:
        return None
    if row.kind is ItemKind.REVIEW:
        review = session.get(Review, row.item_id)
        return target(review_view(review), site, lang) if review else None
    if row.kind is ItemKind.SEMINAR:
        seminar = session.get(Seminar, row.item_id)
        return seminar.url if seminar else None
    news = session.get(News, row.item_id)
    return target(news_view(news), site, lang) if news else None


def _pattern(issue: Issue, site: str) -> re.Pattern[str]:
    return re.compile(re.escape(site) + r"/r/" + re.escape(issue.period) + r"/(\d+)/(cy|en)")


def direct(session: Session, issue: Issue, html: str, site: str) -> str:
    """`html` with each click-counter link replaced by its target (for the web archive, whose
    visitors are not the email's readers)."""
    site = site.rstrip("/")

    def target_of(match: re.Match[str]) -> str:
        url = item_target(session, issue, int(match.group(1)), match.group(2), site)
        return url or match.group(0)

    return _pattern(issue, site).sub(target_of, html)


def counted_targets(session: Session, issue: Issue, html: str, site: str) -> list[str]:
    """The targets behind the click-counter links of `html` that lead to other sites."""
    site = site.rstrip("/")
    found = []
    for position, lang in dict.fromkeys(_pattern(issue, site).findall(html)):
        url = item_target(session, issue, int(position), lang, site)
        if url and url.startswith(("http://", "https://")) and not url.startswith(site + "/"):
            found.append(url)
    return found
