"""The editor's issue page shows bounce and complaint rates against Gmail's 0.3% line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.bounces import service
from digest.delivery import run, verp
from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.store.models import Delivery, FeedbackSource, Issue
from digest.web.app import create_app
from digest.web.auth import hash_password
from tests.bounces import reports
from tests.factories import add_sample_content, add_subscribers, approved_issue
from tests.web.client import PASSWORD, login


@pytest.fixture
def setup(engine: Engine, session: Session, db_settings: Settings
          ) -> Iterator[tuple[TestClient, Settings, Issue]]:
    settings = db_settings.model_copy(update={
        "editor_accounts": f"sian:{hash_password(PASSWORD)}",
        "bounce_address": "bounces@example.org"})
    add_sample_content(session)
    add_subscribers(session, per_language=2)
    issue = approved_issue(session, settings)
    with TestClient(create_app(settings, engine, MemoryTransport),
                    follow_redirects=False, base_url="https://digest.example.org") as client:
        login(client)
        yield client, settings, issue


def complain(session: Session, settings: Settings, delivery: Delivery) -> None:
    key = verp.derive_key(settings.signing_key())
    sender = verp.envelope_sender("bounces@example.org", verp.make_tag(delivery.id or 0, key))
    service.process_raw(session, settings, reports.arf(sender, "x@example.org", "<x@y>"),
                        FeedbackSource.MAILBOX)
    session.commit()


def test_rates_appear_once_the_issue_is_sent(
        setup: tuple[TestClient, Settings, Issue], engine: Engine, session: Session) -> None:
    client, settings, issue = setup
    page = client.get(f"/editor/issues/{issue.id}?lang=en")
    assert page.status_code == 200 and "Bounces and complaints" not in page.text
    run.send_issue(engine, settings, issue.id or 0, MemoryTransport)
    page = client.get(f"/editor/issues/{issue.id}")
    assert "<h2>Bounces and complaints</h2>" in page.text
    assert "<td>0 (0.00%), below Gmail&#39;s 0.3% line</td>" in page.text
    first = session.exec(select(Delivery).where(Delivery.issue_id == issue.id)).first()
    assert first is not None
    complain(session, settings, first)
    page = client.get(f"/editor/issues/{issue.id}")
    assert "<th scope=\"row\">Messages sent</th><td>6</td>" in page.text
    assert "<td>1 (16.67%): <strong>above Gmail&#39;s 0.3% line</strong></td>" in page.text
    assert "0 subscriber(s) bounced and 1 unsubscribed by complaint" in page.text
    welsh = client.get(f"/editor/issues/{issue.id}?lang=cy")
    assert "<h2>Negeseuon a ddaeth yn ôl, a chwynion</h2>" in welsh.text
    assert "uwchlaw trothwy 0.3% Gmail" in welsh.text
