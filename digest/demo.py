"""The demo: the whole path on the embedded default, from content to an outbox of .eml files."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import Engine

from digest.audience import csv_import
from digest.audience.keyed import Keyed
from digest.content import files, sync
from digest.delivery import outbox, run
from digest.delivery.transports.file import FileTransport
from digest.issue import lifecycle, service
from digest.paths import UnusableFile, read_regular
from digest.settings import (
    REPO_ROOT,
    InsecureSecretKey,
    Settings,
    generate_secret_key,
    secret_key_problem,
)
from digest.store.db import engine_from, session_scope, upgrade
from digest.store.models import DeliveryState, IssueState, Language

# First Monday of September 2026, 09:00 in Cardiff: the seed content is fresh then.
DEMO_AS_OF = "2026-09-07T09:00"
DEMO_SUBSCRIBERS = REPO_ROOT / "subscribers" / "example.csv"
MAX_KEY_FILE = 4096  # bytes of var/secret-key read at most (a key is 64 characters)


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


def key_file(settings: Settings) -> Path:
    """Where the demo keeps the secret key it made for itself."""
    return settings.var_dir / "secret-key"


def with_demo_key(settings: Settings) -> Settings:
    """`settings` as they are if they have a good key; else with the demo's own random key,
    made once into var/secret-key (mode 0600) and read from there afterwards."""
    if settings.secret_key and not secret_key_problem(settings.secret_key.get_secret_value()):
        return settings
    path = key_file(settings)
    if not os.path.lexists(path):  # a dangling link is reported below, not written through
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(generate_secret_key() + "\n")
    try:  # a FIFO there would block, a device never end: one line naming it
        key = read_regular(path, max_bytes=MAX_KEY_FILE).decode("ascii", "replace").strip()
    except UnusableFile as exc:
        raise InsecureSecretKey(str(exc)) from None
    if (problem := secret_key_problem(key)) is not None:
        raise InsecureSecretKey(f"{path}: {problem}")
    return settings.model_copy(update={"secret_key": SecretStr(key)})


def demo_as_of(settings: Settings) -> datetime:
    """The demo's planning moment, in UTC."""
    return files.to_utc(datetime.fromisoformat(DEMO_AS_OF), settings.tz)


def prepare(engine: Engine, settings: Settings, as_of: datetime | None = None,
            ) -> tuple[list[files.ContentItem], service.PlanOutcome]:
    """Migrate, sync content/, import the example subscribers and plan the demo issue."""
    upgrade(engine)
    items = files.load_dir(settings.content_dir, settings.tz)
    with session_scope(engine) as session:
        sync.upsert(session, items, settings.tz)
        csv_import.import_file(session, DEMO_SUBSCRIBERS, keyed=Keyed(settings))
    with session_scope(engine) as session:
        outcome = service.plan(session, settings, as_of or demo_as_of(settings))
    return items, outcome


def run_demo(settings: Settings, as_of: datetime) -> DemoSummary:
    """Migrate, sync content, import example subscribers, plan, preview and send to files."""
    engine = engine_from(settings, create=True)
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
