"""Privacy-first click counts: per issue, item and language, with no subscriber identity.

The counter is the site's redirect `/r/<issue>/<item>/<lang>` (digest.render.links). It
knows nothing about who clicked: the path is the same in every copy of a variant. There is
no open-tracking pixel, ever.

Not every request is a reader. The rule (`classify`), in this order:
1. a HEAD request is never counted (scanners check links with HEAD; browsers use GET);
2. a request whose User-Agent is empty or names a known scanner, proxy, preview fetcher or
   HTTP library (`SCANNER_AGENTS`) is not counted;
3. a request before the issue's send started (previews, test sends) is not counted;
4. a request within `DIGEST_CLICK_GRACE_SECONDS` (60) of the send start is not counted:
   mail-security gateways follow every link of a message seconds after it is delivered.
Everything else is counted. Left-out requests are still redirected, and counted apart as
`ignored`, so a report can say how much the rule removed.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from digest.store.models import ClickCount, Issue, IssueAction, IssueEvent, Language, core_table

# Lower-case fragments of User-Agent strings that belong to machines, not readers.
SCANNER_AGENTS = (
    "bot", "spider", "crawl", "slurp", "scan", "preview", "prefetch", "proxy", "monitor",
    "safelinks", "safe links", "urldefense", "proofpoint", "mimecast", "barracuda",
    "symantec", "messagelabs", "forcepoint", "trend micro", "trendmicro", "sophos",
    "fortiguard", "fortinet", "zscaler", "cisco", "ironport", "checkpoint", "paloalto",
    "microsoft office existence", "ms-office", "skypeuripreview", "outlook-ios-linkpreview",
    "googleimageproxy", "yahoomailproxy", "facebookexternalhit", "slackbot", "whatsapp",
    "python-requests", "python-urllib", "aiohttp", "httpx", "curl/", "wget/", "go-http-client",
    "java/", "okhttp", "apache-httpclient", "libwww-perl", "headlesschrome", "phantomjs",
)


class Verdict(enum.StrEnum):
    """Whether a request to the counter is a reader's click, and if not, why not."""

    COUNTED = "counted"
    HEAD = "head"
    SCANNER_AGENT = "scanner_agent"
    NOT_SENT = "not_sent"  # the issue had not started sending: a preview or a test
    TOO_EARLY = "too_early"  # within the grace period after the send start


def is_scanner(user_agent: str | None) -> bool:
    """Whether a User-Agent is empty or names a machine (see SCANNER_AGENTS)."""
    agent = (user_agent or "").strip().lower()
    return not agent or any(fragment in agent for fragment in SCANNER_AGENTS)


def classify(method: str, user_agent: str | None, now: datetime,
             send_started: datetime | None, grace: timedelta) -> Verdict:
    """The rule of this module's docstring, as a pure function."""
    if method.upper() == "HEAD":
        return Verdict.HEAD
    if is_scanner(user_agent):
        return Verdict.SCANNER_AGENT
    if send_started is None or now < send_started:
        return Verdict.NOT_SENT
    if now < send_started + grace:
        return Verdict.TOO_EARLY
    return Verdict.COUNTED


def send_started(session: Session, issue: Issue) -> datetime | None:
    """When the issue's send began (its first `send_started` event), or None."""
    return session.exec(select(sa.func.min(IssueEvent.at)).where(
        IssueEvent.issue_id == issue.id, IssueEvent.action == IssueAction.SEND_STARTED)
    ).one()


def count(session: Session, issue: Issue, position: int, language: Language,
          verdict: Verdict) -> None:
    """Add one request to the item's counter (one upsert; concurrent clicks all count)."""
    table = core_table(ClickCount)
    counted = int(verdict is Verdict.COUNTED)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(issue_id=issue.id, position=position,
                                     language=language.value, clicks=counted,
                                     ignored=1 - counted)
    session.execute(statement.on_conflict_do_update(
        index_elements=["issue_id", "position", "language"],
        set_={"clicks": table.c.clicks + statement.excluded.clicks,
              "ignored": table.c.ignored + statement.excluded.ignored}))


def clicks(session: Session, issue: Issue) -> list[ClickCount]:
    """The issue's counters, by item position then language."""
    return list(session.exec(select(ClickCount).where(ClickCount.issue_id == issue.id)
                             .order_by(col(ClickCount.position), col(ClickCount.language))))
