"""Schema migrations and UTF-8 round trips on both databases."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from digest.settings import Settings
from digest.store.db import (
    HEAD,
    MIGRATIONS,
    NoDatabase,
    UnknownRevision,
    current_revision,
    engine_from,
    make_engine,
    require_database,
    sqlite_file,
    upgrade,
)
from digest.store.models import Language, Subscriber, SubscriberState


def test_upgrade_reaches_head_and_is_idempotent(engine: Engine) -> None:
    upgrade(engine)  # second run: nothing to do, no error
    assert current_revision(engine) == HEAD
    tables = set(sa.inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables


def test_head_constant_is_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == HEAD


def test_upgrade_runs_alembic_only_below_head(engine: Engine,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from alembic import command

    from digest.store.db import alembic_config

    calls: list[str] = []
    real_upgrade = command.upgrade

    def counted(config: object, revision: str) -> None:
        calls.append(revision)
        real_upgrade(config, revision)  # type: ignore[arg-type]

    monkeypatch.setattr(command, "upgrade", counted)
    upgrade(engine)
    assert calls == [] and current_revision(engine) == HEAD
    command.downgrade(alembic_config(engine), "0003")
    assert current_revision(engine) == "0003"  # what Alembic wrote, read without it
    upgrade(engine)
    assert calls == ["head"] and current_revision(engine) == HEAD


@pytest.mark.parametrize("revision", ["0099", "ffffffffffff"])
def test_a_schema_from_a_newer_version_is_refused_and_left_alone(engine: Engine,
                                                                 revision: str) -> None:
    """Alembic's own answer was a CommandError (an internal error, exit 70); the database,
    migrated by a newer digest, must be neither downgraded nor half migrated."""
    def schema() -> dict[str, list[str]]:
        inspector = sa.inspect(engine)
        return {t: [c["name"] for c in inspector.get_columns(t)]
                for t in inspector.get_table_names()}

    before = schema()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    try:
        with pytest.raises(UnknownRevision) as refused:
            upgrade(engine)
        assert refused.value.revision == revision
        assert f"'{revision}'" in str(refused.value) and f"'{HEAD}'" in str(refused.value)
        with pytest.raises(UnknownRevision):
            upgrade(engine, HEAD)  # an explicit target is no way round it
        assert current_revision(engine) == revision and schema() == before
    finally:  # the PostgreSQL database is shared by the session's tests
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": HEAD})


def test_revision_of_a_new_database_is_none(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert current_revision(engine) is None
    engine.dispose()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn, warnings.catch_warnings():
        # Expression indexes are not compared on SQLite (tests/store/test_audience_migration.py
        # checks that one exists on both databases).
        warnings.filterwarnings("ignore", ".*ix_subscriber_name_lower")
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


def test_a_sqlite_file_is_created_under_a_missing_folder_only_when_asked(
        settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "x.db"
    settings = settings.model_copy(update={"database_url": f"sqlite:///{path}"})
    with pytest.raises(NoDatabase) as refused:
        engine_from(settings)
    assert str(refused.value) == (f"setting DIGEST_DATABASE_URL: no database at {path} "
                                  "(create it with `digest db upgrade`)")
    assert not (tmp_path / "new").exists()
    engine = engine_from(settings, create=True)
    upgrade(engine)
    assert path.exists()
    engine.dispose()
    engine_from(settings).dispose()  # there now


def test_make_engine_creates_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")
    with pytest.raises(sa.exc.OperationalError):
        engine.connect()
    engine.dispose()
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:",
                                 "postgresql://u@127.0.0.1/nowhere"])
def test_only_a_sqlite_file_is_checked_before_connecting(url: str) -> None:
    require_database(url)
    assert sqlite_file(url) is None


def test_the_pool_keeps_its_connections_when_more_threads_want_one(db_settings) -> None:  # type: ignore[no-untyped-def]
    """Twelve threads on a pool of three: they take turns on three connections, opened once
    (with overflow, each connection past the kept ones was closed on return and made again)."""
    import threading
    import time

    engine = make_engine(db_settings.database_url, pool_size=3)
    opened: list[int] = []
    out = [0]
    most = [0]
    guard = threading.Lock()

    def checkout(*_: object) -> None:
        with guard:
            out[0] += 1
            most[0] = max(most[0], out[0])

    def checkin(*_: object) -> None:
        with guard:
            out[0] -= 1

    sa.event.listen(engine, "connect", lambda *_: opened.append(1))
    sa.event.listen(engine, "checkout", checkout)
    sa.event.listen(engine, "checkin", checkin)
    start = threading.Barrier(12)

    def work() -> None:
        start.wait()
        for _ in range(10):
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                # Held a moment: twelve threads then want a connection at once even on a busy
                # machine, where a bare SELECT 1 could let them take turns without meeting.
                time.sleep(0.005)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert most[0] == 3  # the threads did want more than three at once
    assert len(opened) == 3


def test_the_pool_size_comes_from_the_settings(db_settings) -> None:  # type: ignore[no-untyped-def]
    from digest.store.db import engine_from

    engine = engine_from(db_settings.model_copy(update={"database_pool_size": 7}))
    assert engine.pool.size() == 7  # type: ignore[attr-defined]
    engine.dispose()



@pytest.mark.postgres
def test_processes_migrating_one_postgresql_database_together_all_succeed() -> None:
    """A scheduler and a web server started together after a deploy: both created the same
    tables, and one failed ("duplicate key value violates unique constraint
    pg_type_typname_nsp_index", exit 69). They take turns; the others find the schema new.
    Processes, not threads: Alembic's context is one per process."""
    import subprocess
    import sys

    from tests.conftest import TEST_SECRET_KEY, empty_pg_database, process_env

    with empty_pg_database("digest_race") as url:
        env = process_env({"DIGEST_DATABASE_URL": url, "DIGEST_SECRET_KEY": TEST_SECRET_KEY})
        procs = [subprocess.Popen([sys.executable, "-m", "digest.cli", "db", "upgrade"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for _ in range(3)]
        outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outputs
        engine = make_engine(url)
        assert current_revision(engine) == HEAD
        engine.dispose()
