"""Pre-send checks an editor sees: translations, size, alt text, past seminars, links."""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser

import httpx2
from sqlmodel import Session, col, select

from digest.issue.lifecycle import check_translations
from digest.issue.service import variants
from digest.render.renderer import MAX_HTML_BYTES
from digest.store.models import Issue, IssueItem, ItemKind, Seminar

GMAIL_CLIP_BYTES = 102_000


@dataclass
class Check:
    """One check's verdict and what it found."""

    name: str
    ok: bool
    details: list[str] = field(default_factory=list)


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images_without_alt = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.links.append(found["href"] or "")
        if tag == "img" and found.get("alt") is None:
            self.images_without_alt += 1


def scan(html: str, site: str) -> tuple[list[str], int]:
    """The distinct links of an email worth checking, and its count of images without alt text.

    Links to our own site (`site`: archive, review pages, the personal links) are left out:
    the code makes them, tests cover them, and the archive page exists only once it is sent.
    """
    parser = _Scan()
    parser.feed(html)
    own = site.rstrip("/") + "/"
    links = [u for u in dict.fromkeys(parser.links)
             if u.startswith(("http://", "https://")) and not u.startswith(own)]
    return links, parser.images_without_alt


def issue_checks(session: Session, issue: Issue, now: datetime, site: str) -> list[Check]:
    """Every check for an issue (links are listed; checking them is a separate request)."""
    out = []
    problems = check_translations(session, issue)
    out.append(Check("translations", not problems, problems))
    stored = variants(session, issue)
    sizes, alts, links = [], [], set()
    for lang, variant in sorted(stored.items()):
        size = len(variant.html.encode("utf-8"))
        sizes.append(f"{lang.value}: {size / 1000:.1f} KB of {GMAIL_CLIP_BYTES / 1000:.0f} KB")
        found, missing = scan(variant.html, site)
        links.update(found)
        if missing:
            alts.append(f"{lang.value}: {missing} image(s) without alt text")
    too_big = any(len(v.html.encode("utf-8")) >= MAX_HTML_BYTES for v in stored.values())
    out.append(Check("size", not too_big, sizes))
    out.append(Check("alt text", not alts, alts))
    ids = session.exec(select(IssueItem.item_id).where(
        IssueItem.issue_id == issue.id, IssueItem.kind == ItemKind.SEMINAR)).all()
    past = session.exec(select(Seminar).where(col(Seminar.id).in_(list(ids)),
                                              col(Seminar.starts_at) <= now)).all()
    out.append(Check("seminars", not past,
                     [f"{s.slug} started {s.starts_at:%Y-%m-%d %H:%M} UTC" for s in past]))
    out.append(Check("links", True, sorted(links)))
    return out


class PrivateAddress(httpx2.RequestError):
    """A link (or a redirect) led to an address that is not on the public internet."""


def _public_only(request: httpx2.Request) -> None:
    # The server makes these requests: a link (or a redirect) to loopback, a private network
    # or a cloud metadata address would let content probe what only the server can reach.
    host = request.url.host
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, request.url.port or 443,
                                                           type=socket.SOCK_STREAM)}
    except OSError:
        return  # unresolvable: the request itself fails with a clear error
    for address in found:
        if not ipaddress.ip_address(str(address).split("%")[0]).is_global:
            raise PrivateAddress(f"{host} is not a public address ({address})", request=request)


def check_links(urls: list[str], timeout: float = 5.0) -> list[tuple[str, bool, str]]:
    """HEAD (then GET) each URL: (url, ok, status or error); only public addresses are
    requested, redirects included."""

    def one(url: str) -> tuple[str, bool, str]:
        try:
            with httpx2.Client(timeout=timeout, follow_redirects=True,
                               event_hooks={"request": [_public_only]}) as client:
                response = client.head(url)
                if response.status_code in (405, 501):
                    response = client.get(url)
            return url, response.status_code < 400, str(response.status_code)
        except httpx2.HTTPError as exc:
            return url, False, f"{exc.__class__.__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, urls))
