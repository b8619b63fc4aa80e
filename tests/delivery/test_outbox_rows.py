"""Creating an issue's outbox rows from two senders at once: each reports what it inserted."""

from __future__ import annotations

import threading
import time

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.delivery import outbox
from digest.settings import Settings
from digest.store.db import session_scope
from digest.store.models import Delivery
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
