"""Fixtures for the delivery stage: an approved issue with an audience, and read-back helpers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from digest.settings import Settings
from digest.store.models import (
    Delivery,
    Issue,
    IssueState,
    Language,
    Subscriber,
    SubscriberState,
)
from tests.factories import add_sample_content, add_subscribers, approved_issue

LEASE = timedelta(seconds=60)  # the default claim_lease_seconds


@pytest.fixture
def issue(session: Session, db_settings: Settings) -> Issue:
    """An approved issue (committed); 9 active subscribers, one unsubscribed, one pending."""
    add_sample_content(session)
    add_subscribers(session, per_language=3)
    session.add(Subscriber(email="gone@example.org", language=Language.EN,
                           state=SubscriberState.UNSUBSCRIBED))
    session.add(Subscriber(email="new@example.org", language=Language.CY,
                           state=SubscriberState.PENDING))
    return approved_issue(session, db_settings)


def state_of(session: Session, issue: Issue) -> IssueState:
    """The issue's state as stored now."""
    session.rollback()  # end the read snapshot: other connections have written
    session.expire_all()
    row = session.get(Issue, issue.id)
    assert row is not None
    return row.state


def rows(session: Session, issue: Issue) -> list[Delivery]:
    """The issue's outbox rows as stored now, in id order."""
    session.rollback()  # end the read snapshot: other connections have written
    session.expire_all()
    return list(session.exec(select(Delivery).where(Delivery.issue_id == issue.id)
                             .order_by(Delivery.id)))  # type: ignore[arg-type]
