"""Where things live on the site: a page in the other language, and each language's feeds."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from fastapi import Request

from digest.i18n import translations
from digest.render.feeds import ATOM_TYPE, RSS_TYPE

SAFE_PATH = "/!$&'()*+,;=:@"  # RFC 3986 pchar besides the unreserved: kept as they are
FEED_KINDS = ("issues", "reviews")  # the archive's issues, and the reviews as they appear
FEED_FORMATS = {"atom": ATOM_TYPE, "rss": RSS_TYPE}


@dataclass(frozen=True)
class FeedLink:
    """One feed, as a page's <link rel="alternate"> and a visible link give it."""

    kind: str
    format: str
    type: str
    title: str
    url: str


def language_url(request: Request, lang: str) -> str:
    """This page (path and query, relative to the site) with `?lang=` set to `lang`; a
    one-off status code (`notice`) is not carried over."""
    query = [(k, v) for k, v in request.query_params.multi_items()
             if k not in ("lang", "notice")]
    return f"{site_path(request.scope['path'])}?{urlencode([*query, ('lang', lang)])}"


def site_path(path: str) -> str:
    """A request's path as a link that stays on this site: `//host/x` or `/\\host/x` (a 404's
    path is anything asked for) would be read by a browser as another site's address."""
    return quote("/" + path.lstrip("/\\"), safe=SAFE_PATH, errors="replace")


def feed_url(site: str, lang: str, kind: str, fmt: str) -> str:
    """A feed's address: /feeds/cy/issues.atom, /feeds/en/reviews.rss, ..."""
    return f"{site.rstrip('/')}/feeds/{lang}/{kind}.{fmt}"


def feed_title(kind: str, lang: str) -> str:
    """`Social Work Research Digest: issues` in `lang`."""
    t = translations(lang)
    what = t.gettext("issues") if kind == "issues" else t.gettext("research reviews")
    return t.gettext("{digest}: {what}").format(digest=t.gettext("Social Work Research Digest"),
                                               what=what)


def feed_links(site: str, lang: str) -> list[FeedLink]:
    """Every feed in `lang`: issues then reviews, Atom then RSS."""
    names = {"atom": "Atom", "rss": "RSS"}
    return [FeedLink(kind, fmt, mime, f"{feed_title(kind, lang)} ({names[fmt]})",
                     feed_url(site, lang, kind, fmt))
            for kind in FEED_KINDS for fmt, mime in FEED_FORMATS.items()]
