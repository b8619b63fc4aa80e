"""The demo: the whole path on the embedded default, from content to an outbox of .eml files."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from digest.audience import csv_import
from digest.audience.keyed import Keyed
from digest.content import files, sync
from digest.delivery import outbox, run
from digest.delivery.transports.file import FileTransport
from digest.issue import lifecycle, service
from digest.settings import REPO_ROOT, Settings
from digest.store.db import engine_from, session_scope, upgrade
from digest.store.models import DeliveryState, IssueState, Language

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
    return files.to_utc(datetime.fromisoformat(DEMO_AS_OF), settings.tz)


def prepare(engine: Engine, settings: Settings, as_of: datetime | None = None,
            ) -> tuple[list[files.ContentItem], service.PlanOutcome]:
    """Migrate, sync content/, import the example subscribers and plan the demo issue."""
    upgrade(engine)
    items = files.load_dir(settings.content_dir)
    with session_scope(engine) as session:
        sync.upsert(session, items, settings.tz)
        csv_import.import_file(session, DEMO_SUBSCRIBERS, keyed=Keyed(settings))
    with session_scope(engine) as session:
        outcome = service.plan(session, settings, as_of or demo_as_of(settings))
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
        for language, variant in service.variants(session, issue).items():
            summary.variants[language.value] = len(variant.html.encode("utf-8"))
            summary.previews += service.write_preview(session, issue, language,
                                                     settings.preview_dir)
    files = FileTransport(settings.outbox_dir)
    run.send_issue(engine, settings, issue.id or 0, lambda: files)
    with session_scope(engine) as session:
        state = outbox.status(session, issue.id or 0)
    sent = state.counts.get(DeliveryState.SENT.value, Counter())
    for lang in Language:
        summary.messages[lang.value] = sent.get(lang.value, 0)
    engine.dispose()
    return summary
