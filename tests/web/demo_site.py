"""The app over the repository's content/ and example subscribers, with the September 2026
issue planned (and, on request, sent): what the archive and feed tests look at."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.audience import csv_import
from digest.content import files, sync
from digest.delivery import run
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import lifecycle, service
from digest.settings import REPO_ROOT, Settings
from digest.store.models import Issue
from digest.web.app import create_app
from tests.factories import AS_OF


def plan_demo(session: Session, settings: Settings) -> Issue:
    """Sync content/, import the example subscribers and plan September 2026 (committed)."""
    sync.upsert(session, files.load_dir(REPO_ROOT / "content"), settings.tz)
    csv_import.import_file(session, REPO_ROOT / "subscribers" / "example.csv")
    outcome = service.plan(session, settings, AS_OF)
    session.commit()
    assert outcome.issue is not None
    return outcome.issue


def send_demo(engine: Engine, session: Session, settings: Settings,
              transport: MemoryTransport) -> Issue:
    """Approve the planned issue and send it through `transport`."""
    session.rollback()  # a fresh snapshot: the app may have written since (editor sessions)
    issue = session.exec(select(Issue)).one()
    lifecycle.approve(session, issue, "test")
    session.commit()
    run.send_issue(engine, settings, issue.id or 0, lambda: transport)
    session.rollback()
    return issue


@contextmanager
def client(engine: Engine, settings: Settings, transport: MemoryTransport
           ) -> Iterator[TestClient]:
    """A TestClient on the app (no redirects followed)."""
    with TestClient(create_app(settings, engine, lambda: transport),
                    base_url="https://digest.example.org", follow_redirects=False) as test_client:
        yield test_client
