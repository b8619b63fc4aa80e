"""Reports for funders and for the Welsh Language Standards, from the store's own history.

Both reports are plain values (`Report`: a title, facts and tables of per-language counts);
the page, the CSV and the JSON are all made from the same values (`to_csv`, `to_json`).

- The issue report: sent, failed and bounced per language; unsubscribes and complaints by
  its recipients within 30 days of the send's start; clicks per item and language (when
  counted, digest.audience.engagement). A bounce is a `bounced` event of a recipient in the
  window, so one found later in a bounce report counts as well as a 5xx during the send.
- The yearly report: active subscribers per language at each month's end (Europe/London),
  sign-ups (imports and confirmed web sign-ups) and leavers per month, the share of Welsh
  and bilingual readers, and every issue sent in the year with its reach. The month-end
  figures are rebuilt from the history (each event holds the state and language after it),
  so they are right for any past date, not only for today.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from digest.audience import engagement
from digest.audience.spreadsheet import cell
from digest.delivery import outbox
from digest.issue import service
from digest.render.links import View, target
from digest.settings import Settings
from digest.store.models import (
    ActionReason,
    Delivery,
    DeliveryState,
    Issue,
    IssueState,
    SubscriberAction,
    SubscriberEvent,
    SubscriberState,
    core_table,
)

WINDOW = timedelta(days=30)
LANGS = ("cy", "en", "both")


@dataclass
class Line:
    """One row of a table: a key and a count per language."""

    key: str
    cy: int = 0
    en: int = 0
    both: int = 0

    @property
    def total(self) -> int:
        """All languages."""
        return self.cy + self.en + self.both

    def add(self, language: str, n: int = 1) -> None:
        """Add `n` to one language's count."""
        setattr(self, language, getattr(self, language) + n)


@dataclass
class Table:
    """A named table of lines."""

    name: str
    lines: list[Line] = field(default_factory=list)

    def line(self, key: str) -> Line:
        """The line with `key` (made if missing)."""
        found = next((ln for ln in self.lines if ln.key == key), None)
        if found is None:
            found = Line(key)
            self.lines.append(found)
        return found


@dataclass
class Report:
    """A report: what it is about, a few facts, and its tables."""

    kind: str  # "issue" or "year"
    subject: str  # "2026-09" or "2026"
    facts: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str) -> Table:
        """The table `name` (made if missing)."""
        return self.tables.setdefault(name, Table(name))


def _value(v: Any) -> str:
    return str(getattr(v, "value", v))


def issue_report(session: Session, settings: Settings, issue: Issue) -> Report:
    """The per-issue report (see the module docstring)."""
    start = engagement.send_started(session, issue)
    report = Report("issue", issue.period, facts={
        "state": issue.state.value, "send_started": start.isoformat() if start else None,
        "window_days": WINDOW.days, "clicks_counted": settings.click_counts})
    delivery = report.table("delivery")
    sent, failed = delivery.line("sent"), delivery.line("failed")
    for state, by_language in outbox.status(session, issue.id or 0).counts.items():
        for language, n in by_language.items():
            if state == DeliveryState.SENT.value:
                sent.add(language, n)
            elif state == DeliveryState.FAILED.value:
                failed.add(language, n)
    for key in ("bounced", "unsubscribed", "complaints"):
        delivery.line(key)
    if start is not None:
        d, e = core_table(Delivery), core_table(SubscriberEvent)
        lang_of = sa.func.coalesce(d.c.language, e.c.language)
        rows = session.execute(
            sa.select(e.c.action, e.c.reason, lang_of,
                      sa.func.count(sa.distinct(e.c.subscriber_id)))
            .join(d, sa.and_(d.c.subscriber_id == e.c.subscriber_id, d.c.issue_id == issue.id))
            .where(e.c.at >= start, e.c.at < start + WINDOW,
                   e.c.action.in_([SubscriberAction.BOUNCED.value,
                                   SubscriberAction.UNSUBSCRIBED.value]))
            .group_by(e.c.action, e.c.reason, lang_of))
        for action, reason, lang, n in rows:
            key = ("bounced" if _value(action) == SubscriberAction.BOUNCED.value else
                   "complaints" if _value(reason) == ActionReason.COMPLAINT.value
                   else "unsubscribed")
            delivery.line(key).add(_value(lang), n)
    if settings.click_counts or engagement.clicks(session, issue):
        content = service.load_content(session, settings, issue)
        items: list[View] = [*content.reviews, *content.seminars, *content.news]
        table = report.table("clicks")
        ignored = 0
        for position, item in enumerate(items):
            if target(item, settings.site_url, "en"):
                table.line(f"{position + 1}: {item.title('en').value}")  # 1-based for people
        for row in engagement.clicks(session, issue):
            if row.position < len(items):
                title = items[row.position].title("en").value
                table.line(f"{row.position + 1}: {title}").add(row.language.value, row.clicks)
            ignored += row.ignored
        report.facts["ignored_requests"] = ignored
    return report


def _month_ends(year: int, settings: Settings) -> list[tuple[str, datetime]]:
    """(YYYY-MM, the first instant after that month in the editorial time zone) per month."""
    out = []
    for month in range(1, 13):
        after = date(year + (month == 12), month % 12 + 1, 1)
        out.append((f"{year}-{month:02d}", datetime.combine(after, time(0), settings.tz)))
    return out


def year_report(session: Session, settings: Settings, year: int) -> Report:
    """The yearly report (see the module docstring)."""
    ends = _month_ends(year, settings)
    begin = datetime.combine(date(year, 1, 1), time(0), settings.tz)
    report = Report("year", str(year))
    active, signups, left = (report.table(n) for n in ("month_end_active", "signups", "left"))
    for key, _ in ends:
        active.line(key), signups.line(key), left.line(key)
    # One pass over the history in subscriber order: each event moves its subscriber from the
    # (state, language) of their previous event to its own; the active count of each month's
    # end is the count at the start plus the moves of the months up to it.
    limits = [end for _, end in ends]
    at_start: Counter[str] = Counter()
    moves = [Counter[str]() for _ in ends]
    e = core_table(SubscriberEvent)
    raw = [sa.type_coerce(c, sa.String) for c in (e.c.action, e.c.state, e.c.language)]
    query = (sa.select(e.c.subscriber_id, e.c.at, *raw).where(e.c.at < limits[-1])
             .order_by(e.c.subscriber_id, e.c.at, e.c.id))
    joined = (SubscriberAction.SUBSCRIBED.value, SubscriberAction.CONFIRMED.value)
    active_state = SubscriberState.ACTIVE.value
    sid: int | None = None
    prev: tuple[str, str] | None = None
    for subscriber_id, at, action, state, lang in session.execute(
            query.execution_options(yield_per=5000)):
        if subscriber_id != sid:
            sid, prev = subscriber_id, None
        was = prev[1] if prev is not None and prev[0] == active_state else None  # its language
        target = at_start if at < begin else moves[bisect.bisect_right(limits, at)]
        if was is not None:
            target[was] -= 1
        if state == active_state:
            target[lang] += 1
        if at >= begin:
            key = ends[bisect.bisect_right(limits, at)][0]
            if action in joined and state == active_state and was is None:
                signups.line(key).add(lang)
            elif was is not None and state != active_state:
                left.line(key).add(was)
        prev = (state, lang)
    running = Counter(at_start)
    for (key, _), move in zip(ends, moves, strict=True):
        running.update(move)
        line = active.line(key)
        line.cy, line.en, line.both = (running[lang] for lang in ("cy", "en", "both"))
    end = active.lines[-1]
    report.facts = {
        "active_at_start": {lang: at_start[lang] for lang in LANGS} | {
            "total": sum(at_start.values())},
        "active_at_end": {lang: getattr(end, lang) for lang in LANGS} | {"total": end.total},
        "welsh_share_at_end": _share(end.cy, end.total),
        "bilingual_share_at_end": _share(end.both, end.total),
        "welsh_or_bilingual_share_at_end": _share(end.cy + end.both, end.total),
        "welsh_or_bilingual_share_at_start": _share(at_start["cy"] + at_start["both"],
                                                    sum(at_start.values())),
        "signups": {lang: sum(getattr(ln, lang) for ln in signups.lines) for lang in LANGS}
        | {"total": sum(ln.total for ln in signups.lines)},
    }
    issues = report.table("issues_sent")
    sent_issues = session.exec(select(Issue).where(
        col(Issue.period).startswith(f"{year}-"),
        col(Issue.state).in_([IssueState.SENT, IssueState.SENDING]))
        .order_by(col(Issue.period))).all()
    for issue in sent_issues:
        line = issues.line(issue.period)
        for language, n in outbox.status(session, issue.id or 0).counts.get(
                DeliveryState.SENT.value, Counter()).items():
            line.add(language, n)
    report.facts["issues_sent"] = len(sent_issues)
    report.facts["reach"] = sum(ln.total for ln in issues.lines)
    return report


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def to_csv(report: Report) -> str:
    """The report's tables as one CSV: table, key, cy, en, both, total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("table", "key", *LANGS, "total"))
    for table in report.tables.values():
        for line in table.lines:
            writer.writerow((table.name, cell(line.key), line.cy, line.en, line.both,
                             line.total))
    return buffer.getvalue()


def to_json(report: Report) -> str:
    """The report as JSON (facts, and each table's lines with their totals)."""
    data = asdict(report)
    data["tables"] = {name: [asdict(ln) | {"total": ln.total} for ln in table.lines]
                      for name, table in report.tables.items()}
    return json.dumps(data, ensure_ascii=False, indent=2)
