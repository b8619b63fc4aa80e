"""Fixtures for the issue stage: a planned draft issue on the parametrised database."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from digest.issue import service
from digest.settings import Settings
from digest.store.models import Issue, IssueState
from tests.factories import AS_OF, add_sample_content


@pytest.fixture
def draft(session: Session, db_settings: Settings) -> Issue:
    """The sample content planned by the scheduler into a draft issue (committed)."""
    add_sample_content(session)
    outcome = service.plan(session, db_settings, AS_OF, actor="scheduler")
    session.commit()
    assert outcome.created and outcome.issue is not None
    assert outcome.issue.state is IssueState.DRAFT
    return outcome.issue
