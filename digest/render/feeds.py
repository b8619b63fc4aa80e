"""Atom 1.0 and RSS 2.0 feeds from plain values, through two Jinja XML templates.

No feed library: the templates give each entry its own language (`xml:lang`) and each feed
its translation (`hreflang`), which the libraries measured in docs/feeds.md cannot, and add
no dependency. Jinja's autoescape makes the text XML-safe; characters XML 1.0 forbids are
dropped first.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
# Control characters other than tab, newline and carriage return are not allowed in XML 1.0.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Entry:
    """One entry: text is plain (`content_html` is HTML source, escaped into the feed)."""

    id: str  # permanent: a tag: URI, not the page's address
    url: str
    title: str
    title_lang: str  # the language the title is really in (after a fallback)
    published: datetime
    updated: datetime
    summary: str
    summary_lang: str
    content_html: str = ""
    content_lang: str = ""
    author: str | None = None

    @property
    def description_html(self) -> str:
        """RSS's one HTML field: the content, else the summary as HTML."""
        return self.content_html or html.escape(self.summary)


@dataclass(frozen=True)
class Feed:
    """A feed in one language, with where its page lives and where it and its translations do:
    `urls["atom"]["en"]` is the English feed as Atom (this feed's own language included)."""

    id: str
    lang: str
    title: str
    subtitle: str
    author: str
    page: str  # the HTML page it follows
    urls: Mapping[str, Mapping[str, str]]  # format -> language -> address
    entries: list[Entry] = field(default_factory=list)  # newest first

    @property
    def updated(self) -> datetime:
        """The newest entry's update time (the epoch for an empty feed, so it is stable)."""
        return max((e.updated for e in self.entries), default=datetime(1970, 1, 1, tzinfo=UTC))


def rfc3339(moment: datetime) -> str:
    """Atom's date format, in UTC: 2026-09-07T08:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc822(moment: datetime) -> str:
    """RSS's date format: Mon, 07 Sep 2026 08:00:00 GMT."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (escaping is Jinja's)."""
    return _NOT_XML.sub("", text)


class FeedWriter:
    """The two feed templates, loaded once."""

    def __init__(self, templates_dir: Path) -> None:
        self.env = Environment(loader=FileSystemLoader(templates_dir / "feeds"),
                               autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                               lstrip_blocks=True, keep_trailing_newline=True)
        self.env.filters.update(rfc3339=rfc3339, rfc822=rfc822, x=xml_text)

    def atom(self, feed: Feed) -> str:
        """The feed as Atom 1.0 (RFC 4287)."""
        return self._render("atom", feed, ATOM_TYPE)

    def rss(self, feed: Feed) -> str:
        """The feed as RSS 2.0."""
        return self._render("rss", feed, RSS_TYPE)

    def _render(self, fmt: str, feed: Feed, mime: str) -> str:
        urls = feed.urls[fmt]  # a feed without its own address is a programming error
        others = {lang: url for lang, url in urls.items() if lang != feed.lang}
        return self.env.get_template(f"{fmt}.xml.j2").render(
            feed=feed, type=mime, self_url=urls[feed.lang], others=others)
