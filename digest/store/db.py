"""Engine, sessions and migrations; nothing connects until a function here is called."""

from __future__ import annotations

import errno
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from digest import paths
from digest.settings import POOL_SIZE, SettingInvalid, Settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration's revision; a test holds it equal to the scripts' head. Every command
# upgrades first, and a database already here is left alone without loading Alembic (about a
# tenth of a send's start-up, docs/performance.md).
HEAD = "0011"


def make_engine(url: str, pool_size: int = POOL_SIZE) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys on. Nothing is
    checked or created here: `engine_from` refuses a SQLite file that is not there."""
    parsed = make_url(url)
    # A fixed pool: at most `pool_size` connections at once, each kept open once made. With
    # overflow, the connections past the kept ones are closed as they come back, so a web
    # server under more concurrent requests than it keeps opened (on PostgreSQL, forked a
    # server process for) a connection per request. Over the limit, a thread waits its turn.
    pool: dict[str, Any] = {"pool_size": pool_size, "max_overflow": 0}
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            pool = {}  # an in-memory database has one connection per thread, no queue
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **pool)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control away from pysqlite so that BEGIN is ours (see below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            # IMMEDIATE takes the write lock up front: a claim reads and writes atomically,
            # and a writer never fails late on a stale snapshot.
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return sa.create_engine(url, pool_pre_ping=True, **pool)


_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()


def writer_lock(engine: Engine) -> threading.Lock | nullcontext[None]:
    """The lock this process's SQLite writers take before BEGIN IMMEDIATE (none elsewhere).

    SQLite has one writer at a time, and a connection that finds the lock taken sleeps in
    its busy handler (1, 2, 5, 10 ... ms) before trying again: the threads of a send queue
    here instead, and are woken the moment the lock is free. Only the send's own short
    transactions take it (claims, outcomes, heartbeats); anything else, and other processes,
    still meet the busy handler. Take it before BEGIN, never inside a transaction.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(engine, threading.Lock())


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error.

    `write=True` takes SQLite's write lock at BEGIN (a no-op elsewhere): use it for
    read-then-write transactions that must not interleave with another writer.
    """
    bind = engine.execution_options(sqlite_immediate=True) if write else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at the packaged migrations and this engine."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


class UnknownRevision(Exception):
    """The database is at a schema revision these migrations do not have (a newer digest's)."""

    def __init__(self, revision: str) -> None:
        super().__init__(
            f"schema revision {revision!r} is not one this version of digest knows (its "
            f"newest is {HEAD!r}): a newer digest migrated it. Run that version, or point "
            "DIGEST_DATABASE_URL at another database; nothing was changed")
        self.revision = revision


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (idempotent); UnknownRevision, before anything is
    written, for a database at a revision these migrations do not have."""
    current = current_revision(engine)
    if revision == "head" and current == HEAD:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(engine)
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if current is not None and current not in known:  # never "upgrade" a newer schema
        raise UnknownRevision(current)
    command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None if never migrated (Alembic's
    version table, read with plain SQL: the migrations are linear, one row). NoDatabase
    for a PostgreSQL database the server does not have."""
    try:
        conn = engine.connect()
    except sa.exc.OperationalError as exc:
        raise _missing_on_server(engine, exc) or exc from exc
    with conn:
        try:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.DBAPIError:  # no such table
            return None


class NoDatabase(SettingInvalid):
    """DIGEST_DATABASE_URL names no database, or a file that is not one: one line naming
    the path or the server, exit 78 (EX_CONFIG); nothing is created."""

    def __init__(self, problem: str) -> None:
        super().__init__("database_url", problem)


CREATE_HINT = "create it with `digest db upgrade`"
SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None: another database, memory, or a `file:` URI)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database \
            or parsed.database == ":memory:" or parsed.database.startswith("file:") \
            or parsed.query.get("uri") in ("true", "1"):
        return None
    return Path(parsed.database)


def require_database(url: str, *, create: bool = False) -> None:
    """Raise NoDatabase unless a SQLite URL names an SQLite file this process may read
    (or, with `create`, nothing yet: its folders are made). An empty file is an empty
    database, as SQLite takes it. Other databases are checked when they are connected to."""
    path = sqlite_file(url)
    if path is None:
        return
    shown = Path(os.path.abspath(path))
    try:
        paths.check_file(path)
    except paths.UnusableFile as exc:
        if exc.errno == errno.ENOENT and not os.path.islink(path):
            if not create:
                raise NoDatabase(f"no database at {shown} ({CREATE_HINT})") from None
            try:
                shown.parent.mkdir(parents=True, exist_ok=True)
            except OSError as made:
                raise NoDatabase(f"cannot create the folder {shown.parent} for {shown.name}: "
                                 f"{(made.strerror or str(made)).lower()}") from None
            return
        if exc.errno in (errno.EISDIR, errno.EINVAL):  # a folder, a FIFO, a device
            what = str(exc.strerror).partition(", not ")[0]
            raise NoDatabase(f"{shown} {what}, not an SQLite database file") from None
        raise NoDatabase(f"{shown}: {exc.strerror}") from None
    with paths.open_regular(path) as handle:
        head = handle.read(len(SQLITE_HEADER))
    if head and head != SQLITE_HEADER:
        raise NoDatabase(f"{shown} is not an SQLite database (it does not start with "
                         "SQLite's header)")


def _missing_on_server(engine: Engine, exc: sa.exc.OperationalError) -> NoDatabase | None:
    """NoDatabase when PostgreSQL says the database does not exist (it gives no SQLSTATE
    before a connection is made: its words are matched)."""
    url = engine.url
    if url.get_backend_name() != "postgresql" or not url.database:
        return None
    if f'database "{url.database}" does not exist' not in str(exc.orig or exc):
        return None
    server = f"{url.host or 'localhost'}:{url.port or 5432}"
    return NoDatabase(f'no database "{url.database}" on the PostgreSQL server {server} '
                      f"(create it there, e.g. `createdb {url.database}`, then run "
                      "`digest db upgrade`)")


def engine_from(settings: Settings, *, create: bool = False) -> Engine:
    """The engine for the configured database, which must be there (NoDatabase otherwise)
    unless `create` (`digest db upgrade`, the demo): then a SQLite file and its folders are
    made on first use."""
    require_database(settings.database_url, create=create)
    return make_engine(settings.database_url, settings.database_pool_size)
