"""Schema migrations and UTF-8 round trips on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from digest.db import current_revision, make_engine, upgrade
from digest.models import Language, Subscriber, SubscriberState


def test_upgrade_reaches_head_and_is_idempotent(engine: Engine) -> None:
    upgrade(engine)  # second run: nothing to do, no error
    assert current_revision(engine) == "0004"
    tables = set(sa.inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_welsh_text_and_utc_times_round_trip(session: Session) -> None:
    bst = timezone(timedelta(hours=1))
    session.add(Subscriber(email="gwyn@example.org", name="Gwŷn Ŵyn ap Siôn",
                           language=Language.CY, state=SubscriberState.ACTIVE,
                           created_at=datetime(2026, 7, 1, 10, 0, tzinfo=bst)))
    session.commit()
    session.expunge_all()
    row = session.exec(select(Subscriber)).one()
    assert row.name == "Gwŷn Ŵyn ap Siôn"
    assert row.created_at == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert row.language is Language.CY and row.state is SubscriberState.ACTIVE


def test_naive_datetimes_are_refused(session: Session) -> None:
    session.add(Subscriber(email="a@example.org", language=Language.EN,
                           state=SubscriberState.ACTIVE, created_at=datetime(2026, 1, 1)))
    with pytest.raises(sa.exc.StatementError, match="naive"):
        session.commit()


def test_sqlite_file_is_created_under_a_missing_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'dir' / 'x.db'}")
    upgrade(engine)
    assert (tmp_path / "new" / "dir" / "x.db").exists()
    engine.dispose()
