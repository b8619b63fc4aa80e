"""Atom and RSS feeds per language: the archive's issues, and the reviews as they appear.

/feeds/cy/issues.atom, /feeds/en/reviews.rss, ... (digest.web.links makes the addresses).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urljoin

from fastapi import HTTPException
from fastapi.responses import Response
from markupsafe import Markup, escape
from sqlmodel import Session, col, select

from digest.i18n import LANGS, translations
from digest.issue.archive import sent_issues
from digest.issue.service import get_issue, load_content
from digest.render.feeds import Entry, Feed, FeedWriter
from digest.render.views import Localised, citation, localised
from digest.settings import Settings
from digest.store.models import Language, Review, now_utc
from digest.web.links import FEED_FORMATS, FEED_KINDS, feed_title, feed_url
from digest.web.pages import ReadDb, Router, Svc
from digest.web.public import MARKDOWN

router = Router()
MAX_ENTRIES = 30
# The year in the entries' tag: URIs (RFC 4151): part of every id, so it never changes.
TAG_YEAR = 2026


@cache
def _writer(templates_dir: Path) -> FeedWriter:
    return FeedWriter(templates_dir)


@router.get("/feeds/{lang}/{name}")
def feed(lang: str, name: str, svc: Svc, session: ReadDb) -> Response:
    """One feed: `issues` or `reviews`, `.atom` or `.rss`, in Welsh or English."""
    kind, _, fmt = name.partition(".")
    if lang not in LANGS or kind not in FEED_KINDS or fmt not in FEED_FORMATS:
        raise HTTPException(404)
    built = (issues_feed if kind == "issues" else reviews_feed)(session, svc.settings, lang)
    writer = _writer(svc.settings.templates_dir)
    body = writer.atom(built) if fmt == "atom" else writer.rss(built)
    return Response(body, media_type=f"{FEED_FORMATS[fmt]}; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=900"})


def _feed(settings: Settings, lang: str, kind: str, page: str, entries: list[Entry]) -> Feed:
    site = settings.site_url.rstrip("/")
    t = translations(lang)
    urls = {fmt: {code: feed_url(site, code, kind, fmt) for code in LANGS} for fmt in FEED_FORMATS}
    return Feed(id=f"tag:{settings.list_id},{TAG_YEAR}:{kind}/{lang}", lang=lang,
                title=feed_title(kind, lang),
                subtitle=t.gettext("Once a month: new research reviews and the seminars coming "
                                   "up, in Welsh, English or both."),
                author=settings.sender_name, page=page,
                urls=urls, entries=entries)


def issues_feed(session: Session, settings: Settings, lang: str) -> Feed:
    """The sent issues in `lang`, newest first: subject, summary line and what was in it."""
    site = settings.site_url.rstrip("/")
    entries = []
    for sent in sent_issues(session, MAX_ENTRIES):
        variant = sent.variants.get(Language(lang))
        if variant is None:
            continue
        entries.append(Entry(
            id=f"tag:{settings.list_id},{TAG_YEAR}:issue/{sent.period}/{lang}",
            url=f"{site}/archive/{sent.period}/{lang}", title=variant.subject, title_lang=lang,
            published=sent.sent_at, updated=sent.sent_at, summary=variant.preheader,
            summary_lang=lang, content_html=_contents(session, settings, sent.id, lang),
            content_lang=lang))
    return _feed(settings, lang, "issues", f"{site}/archive?lang={lang}", entries)


def _contents(session: Session, settings: Settings, issue_id: int, lang: str) -> str:
    """An issue's items as HTML: a list of titles under each section's name, linked."""
    content = load_content(session, settings, get_issue(session, issue_id))
    site = settings.site_url.rstrip("/")
    t = translations(lang)
    sections: list[tuple[str, list[tuple[Localised, str | None]]]] = [
                (t.gettext("New research reviews"),
                 [(r.title(lang), r.link(site, lang)) for r in content.reviews]),
                (t.gettext("Seminars coming up"),
                 [(s.title(lang), s.url) for s in content.seminars]),
                (t.gettext("News and blogs"), [(n.title(lang), n.url) for n in content.news])]
    out = Markup()
    for heading, items in sections:
        if not items:
            continue
        lines = Markup().join(
            Markup("<li{}>{}</li>").format(
                Markup(' lang="{}"').format(title.lang) if title.lang != lang else "",
                Markup('<a href="{}">{}</a>').format(url, title.value) if url
                else escape(title.value))
            for title, url in items)
        out += Markup("<h2>{}</h2><ul>{}</ul>").format(heading, lines)
    return str(out)


def reviews_feed(session: Session, settings: Settings, lang: str) -> Feed:
    """The published reviews in `lang`, newest first, each in full (the review page's text)."""
    site = settings.site_url.rstrip("/")
    t = translations(lang)
    rows = session.exec(select(Review).where(col(Review.published_at) <= now_utc(),
                                             col(Review.withdrawn_at).is_(None))
                        .order_by(col(Review.published_at).desc()).limit(MAX_ENTRIES)).all()
    entries = []
    for row in rows:
        title = localised(row.title_cy, row.title_en, lang)
        teaser = localised(row.teaser_cy, row.teaser_en, lang)
        body = localised(row.body_cy, row.body_en, lang)
        page = f"{site}/reviews/{row.slug}"
        content = Markup('<p lang="en">{}</p><p>{}</p><div{}>{}</div>').format(
            citation(row), t.gettext("Reviewed by {name}").format(name=row.reviewer),
            Markup(' lang="{}"').format(body.lang) if body.lang != lang else "",
            Markup(absolute_html(body.value, page)))  # markdown-it escapes the text
        entries.append(Entry(
            id=f"tag:{settings.list_id},{TAG_YEAR}:review/{row.slug}/{lang}",
            url=f"{page}?lang={lang}", title=title.value,
            title_lang=title.lang, published=row.published_at,
            updated=max(row.published_at, row.updated_at), summary=teaser.value,
            summary_lang=teaser.lang, content_html=str(content), content_lang=lang,
            author=row.reviewer))
    return _feed(settings, lang, "reviews", f"{site}/archive?lang={lang}", entries)


def absolute_html(markdown: str, page: str) -> str:
    """Markdown as HTML (as the review page renders it) with every link and image address
    resolved against `page`, the address it is shown at on the site: in a feed a relative
    one would resolve against the feed's address, or not at all (most RSS readers)."""
    tokens = MARKDOWN.parse(markdown)
    for token in tokens:
        for node in (token, *(token.children or ())):
            for name in ("href", "src"):
                if isinstance(value := node.attrGet(name), str):
                    node.attrSet(name, urljoin(page, value))
    return str(MARKDOWN.renderer.render(tokens, MARKDOWN.options, {}))
