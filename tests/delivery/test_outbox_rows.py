"""Creating an issue's outbox rows from two senders at once: each reports what it inserted."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.delivery import outbox
from digest.issue import lifecycle
from digest.settings import Settings
from digest.store.db import session_scope
from digest.store.models import Delivery, IssueAction
from tests.factories import add_sample_content, add_subscribers, approved_issue


def test_two_senders_creating_rows_together_each_count_their_own(
        engine: Engine, session: Session, db_settings: Settings) -> None:
    add_sample_content(session)
    add_subscribers(session, per_language=20)
    issue_id = approved_issue(session, db_settings).id or 0
    counts: dict[str, int] = {}
    first_inserted = threading.Event()

    def second() -> None:
        first_inserted.wait(10)
        with session_scope(engine, write=True) as s:  # waits for the first one's commit
            counts["second"] = outbox.create_deliveries(s, issue_id)

    other = threading.Thread(target=second)
    other.start()
    with session_scope(engine, write=True) as s:
        counts["first"] = outbox.create_deliveries(s, issue_id)
        first_inserted.set()
        time.sleep(0.3)  # the second sender is now waiting on these uncommitted rows
    other.join(30)
    assert counts == {"first": 60, "second": 0}
    session.rollback()
    assert len(session.exec(select(Delivery)).all()) == 60


@pytest.mark.postgres
@pytest.mark.parametrize("db_settings", ["postgresql"], indirect=True)  # PostgreSQL's row locks
def test_creating_the_outbox_holds_up_no_one_writing_the_issues_history(
        engine: Engine, session: Session, db_settings: Settings) -> None:
    """On PostgreSQL the creation locks the issue row against a second creation only (FOR NO
    KEY UPDATE): a row that merely refers to the issue, as its history does, is written
    meanwhile. (SQLite has one writer at a time whatever the statement.)"""
    assert engine.dialect.name == "postgresql"
    add_sample_content(session)
    add_subscribers(session, per_language=5)
    issue = approved_issue(session, db_settings)
    session.commit()
    with session_scope(engine, write=True) as creating:
        assert outbox.create_deliveries(creating, issue.id or 0) == 15
        with session_scope(engine, write=True) as other:
            other.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            lifecycle.record(other, issue, "sian", IssueAction.TEST_SENT, "meanwhile")
            other.flush()  # its foreign key check takes FOR KEY SHARE on the issue row
        with session_scope(engine, write=True) as racing:  # a second creation must wait
            racing.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                outbox.create_deliveries(racing, issue.id or 0)
    session.rollback()
    assert [e.detail for e in lifecycle.history(session, issue)][-1] == "meanwhile"
