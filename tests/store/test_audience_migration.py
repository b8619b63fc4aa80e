"""Migration 0007: the audience tables, the name index, and the consent/history backfill."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from digest.store.db import HEAD, alembic_config, current_revision, upgrade


def test_existing_subscribers_get_a_legacy_consent_and_history(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "0004")
    created, left = datetime(2025, 3, 1, 9, 0), datetime(2026, 2, 1, 10, 0)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO subscriber (email, name, language, state, created_at, updated_at) "
            "VALUES ('a@example.org', 'A', 'cy', 'active', :c, :c), "
            "('b@example.org', 'B', 'en', 'unsubscribed', :c, :u), "
            "('c@example.org', 'C', 'both', 'pending', :c, :c)"), {"c": created, "u": left})
    upgrade(engine)
    assert current_revision(engine) == HEAD
    with engine.connect() as conn:
        consent = conn.execute(sa.text(
            "SELECT s.email, c.source, c.at FROM consent c JOIN subscriber s "
            "ON s.id = c.subscriber_id ORDER BY s.email")).all()
        events = conn.execute(sa.text(
            "SELECT s.email, e.action, e.reason, e.state, e.language, e.at "
            "FROM subscriber_event e JOIN subscriber s ON s.id = e.subscriber_id "
            "ORDER BY s.email, e.at")).all()
    assert [(e, s) for e, s, _ in consent] == [("a@example.org", "legacy"),
                                               ("b@example.org", "legacy"),
                                               ("c@example.org", "legacy")]
    assert all(_naive(at) == created for _, _, at in consent)
    assert [tuple(row[:5]) for row in events] == [
        ("a@example.org", "subscribed", "legacy", "active", "cy"),
        ("b@example.org", "subscribed", "legacy", "active", "en"),
        ("b@example.org", "unsubscribed", "legacy", "unsubscribed", "en"),
        ("c@example.org", "subscribed", "legacy", "pending", "both"),
    ]
    assert _naive(events[2][5]) == left
    assert _naive(events[0][5]) == created


def _naive(value: object) -> datetime:
    """A timestamp read with plain SQL (text on SQLite), as a naive UTC datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def test_the_name_index_exists(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        names = {ix["name"] for ix in sa.inspect(engine).get_indexes("subscriber")}
    else:  # SQLAlchemy does not reflect expression indexes on SQLite: ask it directly
        with engine.connect() as conn:
            names = set(conn.execute(sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'subscriber'")).scalars())
    assert {"ix_subscriber_name_lower", "ix_subscriber_state_language_id",
            "ix_subscriber_language_id"} <= names
