"""Pre-send checks an editor sees: translations, size, alt text, past seminars, links.

They are judged against the time the issue will be sent (`send_time`), and stored on the
issue when sending starts: a sent issue shows them as they were then (`page_checks`).
"""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from digest.issue.lifecycle import history, translation_gaps, withdrawn_items
from digest.issue.links import counted_targets
from digest.issue.service import variants
from digest.render import MAX_HTML_BYTES
from digest.store.models import (
    Issue,
    IssueAction,
    IssueItem,
    IssueState,
    ItemKind,
    Seminar,
)

if TYPE_CHECKING:
    import httpx2

STARTED = (IssueState.SENDING, IssueState.SENT)


@dataclass
class Check:
    """One check's verdict and what it found: `details` in English, one line each (as the CLI
    and the history say it); `facts`, the same as values for a page to say in its language."""

    name: str
    ok: bool | None  # None: not run yet (the link check, until an editor asks for it)
    details: list[str] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CheckReport:
    """The checks an editor's page shows, and the moment they are judged against."""

    at: datetime
    at_send: bool  # True: as they were when sending started (stored then)
    checks: list[Check]


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


def issue_checks(session: Session, issue: Issue, at: datetime, site: str) -> list[Check]:
    """Every check for an issue, judged as of `at` (the send time: see `send_time`); the link
    check shows the stored results of the last one requested, or "not run"."""
    out = []
    gaps = translation_gaps(session, issue)
    out.append(Check("translations", not gaps, [g.line() for g in gaps],
                     [{"kind": g.kind.value, "slug": g.slug, "field": g.field, "lang": g.lang}
                      for g in gaps]))
    stored = variants(session, issue)
    sizes, size_facts, alts, alt_facts, links = [], [], [], [], set()
    for lang, variant in sorted(stored.items()):
        size = len(variant.html.encode("utf-8"))
        kb = size // 100 / 10  # rounded down: a variant under the limit never shows it reached
        sizes.append(f"{lang.value}: {kb:.1f} KB of {MAX_HTML_BYTES / 1000:.0f} KB")
        size_facts.append({"variant": lang.value, "kb": kb, "limit_kb": MAX_HTML_BYTES // 1000})
        found, missing = scan(variant.html, site)
        links.update(found)
        links.update(counted_targets(session, issue, variant.html, site))  # DIGEST_CLICK_COUNTS
        if missing:
            alts.append(f"{lang.value}: {missing} image(s) without alt text")
            alt_facts.append({"variant": lang.value, "count": missing})
    too_big = any(len(v.html.encode("utf-8")) >= MAX_HTML_BYTES for v in stored.values())
    out.append(Check("size", not too_big, sizes, size_facts))
    out.append(Check("alt text", not alts, alts, alt_facts))
    ids = session.exec(select(IssueItem.item_id).where(
        IssueItem.issue_id == issue.id, IssueItem.kind == ItemKind.SEMINAR)).all()
    past = session.exec(select(Seminar).where(col(Seminar.id).in_(list(ids)),
                                              col(Seminar.starts_at) <= at)).all()
    out.append(Check("seminars", not past,
                     [f"{s.slug} starts {s.starts_at:%Y-%m-%d %H:%M} UTC, before the send time"
                      for s in past],
                     [{"slug": s.slug, "starts": s.starts_at.isoformat()} for s in past]))
    out.append(_withdrawn_check(session, issue))
    out.append(_links_check(sorted(links), issue.link_check))
    return out


def _withdrawn_check(session: Session, issue: Issue) -> Check:
    """The issue's items whose file now says `withdrawn: true` (a replan drops them)."""
    found = withdrawn_items(session, issue)
    return Check("withdrawn", not found,
                 [f"{kind.value} {slug} is withdrawn; replan to drop it" for kind, slug in found],
                 [{"kind": kind.value, "slug": slug} for kind, slug in found])


def _links_check(urls: list[str], last: dict[str, Any] | None) -> Check:
    """The link check: not run until requested; then the stored results for these links."""
    if not last:
        return Check("links", None, urls, [{"url": u} for u in urls])
    results = {url: (ok, status) for url, ok, status in last["results"]}
    facts = [{"url": u, "ok": results[u][0], "status": results[u][1]} if u in results
             else {"url": u} for u in urls]
    ok = all(f.get("ok") is True for f in facts)
    return Check("links", ok, urls, facts)


def send_time(issue: Issue, now: datetime) -> datetime:
    """When the issue will be sent: its send time, or now once that has passed."""
    return max(now, issue.send_after) if issue.send_after else now


def started_at(session: Session, issue: Issue) -> datetime | None:
    """When sending started (the history's first send_started), if it has."""
    return next((e.at for e in history(session, issue)
                 if e.action == IssueAction.SEND_STARTED.value), None)


def page_checks(session: Session, issue: Issue, now: datetime, site: str) -> CheckReport:
    """The checks for an editor's page: as stored when sending started, for an issue that is
    sending or sent; otherwise judged against the time it will be sent."""
    if issue.state in STARTED and issue.send_checks:
        snap = issue.send_checks
        return CheckReport(datetime.fromisoformat(snap["at"]), True,
                           [Check(**c) for c in snap["checks"]])
    if issue.state in STARTED:  # sent before the checks were stored: judged as of then
        at = started_at(session, issue) or now
        return CheckReport(at, True, issue_checks(session, issue, at, site))
    at = send_time(issue, now)
    return CheckReport(at, False, issue_checks(session, issue, at, site))


def store_send_checks(session: Session, issue: Issue, at: datetime, site: str) -> None:
    """Keep the checks as they are at `at`, when sending starts (the caller commits)."""
    found = issue_checks(session, issue, at, site)
    issue.send_checks = {"at": at.isoformat(), "checks": [asdict(c) for c in found]}
    session.add(issue)


def record_link_check(session: Session, issue: Issue, results: list[tuple[str, bool, str]],
                      at: datetime) -> None:
    """Keep the link check's results for the issue's page (the caller commits)."""
    issue.link_check = {"at": at.isoformat(), "results": [list(r) for r in results]}
    session.add(issue)


class PrivateAddress(Exception):
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
            raise PrivateAddress(f"{host} is not a public address ({address})")


def check_links(urls: list[str], timeout: float = 5.0) -> list[tuple[str, bool, str]]:
    """HEAD (then GET) each URL: (url, ok, status or error); only public addresses are
    requested, redirects included."""
    # Imported here: a send stores the checks (this module) but never requests a link.
    import httpx2

    def one(url: str) -> tuple[str, bool, str]:
        try:
            with httpx2.Client(timeout=timeout, follow_redirects=True,
                               event_hooks={"request": [_public_only]}) as client:
                response = client.head(url)
                if response.status_code in (405, 501):
                    response = client.get(url)
            return url, response.status_code < 400, str(response.status_code)
        except (httpx2.HTTPError, PrivateAddress) as exc:
            return url, False, f"{exc.__class__.__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, urls))
