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
    seen: list[str] = []
    held = writer._held

    def looking(cursor: Any, watch: list[int]) -> set[int]:
        seen.append(_setting(cursor))  # inside the outcome transaction
        return held(cursor, watch)

    writer._held = looking  # type: ignore[method-assign]
    try:
        assert writer.write([], POLICY, watch=[1]) == {1}
        after = writer.conn.cursor()
        seen.append(_setting(after))  # the same connection, after the commit
        writer.conn.rollback()
    finally:
        writer.close()
    with session_scope(pg_engine, write=True) as session:  # what the web and the CLI use
        seen.append(str(session.execute(sa.text("SHOW synchronous_commit")).scalar_one()))
    assert seen == ["off", "on", "on"]
