"""The demo: the whole path on the embedded default, from content to an outbox of .eml files."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from digest import content, deliver, issues, lifecycle, outbox, subscribers
from digest.db import engine_from, session_scope, upgrade
from digest.models import DeliveryState, IssueState, Language
from digest.settings import REPO_ROOT, Settings
from digest.transport import FileTransport

# First Monday of September 2026, 09:00 in Cardiff: the seed content is fresh then.
DEMO_AS_OF = "2026-09-07T09:00"
DEMO_SUBSCRIBERS = REPO_ROOT / "subscribers" / "example.csv"


@dataclass
class DemoSummary:
    """What the demo produced, for the summary table."""

    items: dict[str, int] = field(default_factory=dict)
    issue: str = ""
    plan_message: str = ""
    variants: dict[str, int] = field(default_factory=dict)  # language -> HTML bytes
    messages: dict[str, int] = field(default_factory=dict)  # language -> sent rows
    previews: list[Path] = field(default_factory=list)
    outbox: Path = Path()
    database: str = ""


def demo_as_of(settings: Settings) -> datetime:
    """The demo's planning moment, in UTC."""
    return content.to_utc(datetime.fromisoformat(DEMO_AS_OF), settings.tz)


def prepare(engine: Engine, settings: Settings, as_of: datetime | None = None,
            ) -> tuple[list[content.ContentItem], issues.PlanOutcome]:
    """Migrate, sync content/, import the example subscribers and plan the demo issue."""
    upgrade(engine)
    items = content.load_dir(settings.content_dir)
    with session_scope(engine) as session:
        content.sync(session, items, settings.tz)
        subscribers.import_file(session, DEMO_SUBSCRIBERS)
    with session_scope(engine) as session:
        outcome = issues.plan(session, settings, as_of or demo_as_of(settings))
    return items, outcome


def run_demo(settings: Settings, as_of: datetime) -> DemoSummary:
    """Migrate, sync content, import example subscribers, plan, preview and send to files."""
    engine = engine_from(settings)
    summary = DemoSummary(outbox=settings.outbox_dir, database=settings.database_url)
    items, outcome = prepare(engine, settings, as_of)
    for item in items:
        summary.items[item.meta.type] = summary.items.get(item.meta.type, 0) + 1
    summary.plan_message = outcome.message
    with session_scope(engine) as session:
        if outcome.issue is None:
            return summary
        issue = session.merge(outcome.issue)
        summary.issue = issue.period
        if issue.state is IssueState.DRAFT:
            lifecycle.approve(session, issue, "demo")
        for language, variant in issues.variants(session, issue).items():
            summary.variants[language.value] = len(variant.html.encode("utf-8"))
            summary.previews += issues.write_preview(session, issue, language,
                                                     settings.preview_dir)
    files = FileTransport(settings.outbox_dir)
    deliver.send_issue(engine, settings, summary.issue, lambda: files)
    with session_scope(engine) as session:
        state = outbox.status(session, issues.get_issue(session, summary.issue).id or 0)
    sent = state.counts.get(DeliveryState.SENT.value, Counter())
    for lang in Language:
        summary.messages[lang.value] = sent.get(lang.value, 0)
    engine.dispose()
    return summary
