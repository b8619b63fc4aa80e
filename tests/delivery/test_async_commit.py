"""On PostgreSQL only the send's outcome transactions skip the WAL flush at commit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.delivery.outbox import RetryPolicy
from digest.delivery.outcomes import OutcomeWriter
from digest.store.db import make_engine, session_scope

pytestmark = pytest.mark.postgres
POLICY = RetryPolicy(timedelta(minutes=1), timedelta(hours=1), timedelta(days=1))


@pytest.fixture
def pg_engine(pg_database: str) -> Iterator[Engine]:
    engine = make_engine(pg_database)
    yield engine
    engine.dispose()


def _setting(cursor: Any) -> str:
    cursor.execute("SHOW synchronous_commit")
    return str(cursor.fetchone()[0])


def test_only_outcome_transactions_commit_asynchronously(pg_engine: Engine) -> None:
    writer = OutcomeWriter(pg_engine, "run-1")
    try:
        assert writer.write([], POLICY, watch=[1]) == {1}  # the one-statement write
        cursor = writer.conn.cursor()
        seen = [_setting(cursor)]  # the writer's own connection, set for outcome writes
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone() or (None,)
    finally:
        writer.close()
    with session_scope(pg_engine, write=True) as session:  # what the web and the CLI use
        seen.append(str(session.execute(sa.text("SHOW synchronous_commit")).scalar_one()))
        # The writer's connection was discarded, not pooled: its server process has gone.
        alive = session.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = "
                                        ":pid"), {"pid": pid}).scalar_one()
    assert seen == ["off", "on"]
    assert alive == 0
