"""The database side of bench/web_burst.py: a SQLite file or a PostgreSQL scratch database,
an outbox of an earlier issue's rows, and the counts and checks, read with SQLAlchemy Core
on an engine of its own (either database)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from bench import measure
from digest.store.models import DeliveryState, Issue, IssueState, Language, SubscriberState

ISSUE = Issue.__table__  # type: ignore[attr-defined]
S, D = measure.S, measure.D
EARLIER = "2026-08"  # the earlier issue the extra outbox rows belong to (state sent)
SENT_AT = measure.AS_OF - timedelta(days=35)  # when its messages went


@contextmanager
def database(workdir: Path, postgres: str | None) -> Iterator[Path | str]:
    """A SQLite file in `workdir` (postgres None), else a fresh scratch database on the
    PostgreSQL server `postgres`, dropped on the way out whatever happened."""
    if postgres is None:
        yield workdir / "digest.db"
        return
    scratch = measure.PostgresScratch(postgres)
    try:
        yield scratch.create(f"digest_bench_burst_{uuid.uuid4().hex[:12]}")
    finally:
        scratch.close()


def engine_for(db: Path | str) -> Engine:
    """A plain engine on a SQLite file or a database URL (PostgreSQL through psycopg)."""
    url = make_url(measure.database_url(db))
    if url.get_backend_name() == "sqlite":
        return sa.create_engine(url, connect_args={"timeout": 30})
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return sa.create_engine(url)


def label_for(engine: Engine, tree: Path) -> str | None:
    """For a baseline `tree` whose migrations stop before this schema's revision: label the
    schema with the tree's newest (HEAD in its digest/store/db.py), so that its commands'
    upgrade-first leaves it alone; the label set, or None. Only for newer migrations that
    add nullable columns and tables or drop a redundant index, as 0008, 0009 and 0010
    (what 6fd8f32 lacks) do."""
    found = re.search(r'^HEAD = "([^"]+)"', (tree / "digest/store/db.py").read_text(), re.M)
    versions = tree / "digest/store/migrations/versions"
    with engine.begin() as conn:
        now = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        if found is None or any(re.search(rf'^revision: str = "{now}"', p.read_text(), re.M)
                                for p in versions.glob("*.py")):
            return None
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": found[1]})
    return found[1]


def as_utc(value: datetime | str | None) -> datetime | None:
    """A stored timestamp (a datetime, or ISO text from SQLite) as aware UTC; naive is UTC."""
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def issue_id(engine: Engine, period: str = measure.PERIOD) -> int:
    """The id of the issue of `period` (the one the benchmark sends)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(ISSUE.c.id).where(ISSUE.c.period == period))
                   .scalar_one())


def sent(engine: Engine, issue: int) -> int:
    """Outbox rows of `issue` in state sent."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(D).where(
            D.c.issue_id == issue, D.c.state == DeliveryState.SENT.value)).scalar_one())


def outbox_size(engine: Engine) -> int:
    """Rows in the delivery table, every issue's."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(D)).scalar_one())


def _numbers(conn: sa.Connection, count: int) -> Any:
    """A selectable of one column `i`, 0 .. count - 1, made by the database itself."""
    if conn.dialect.name == "postgresql":
        return sa.select(sa.func.generate_series(0, count - 1).label("i")).subquery("numbers")
    numbers = sa.select(sa.literal(0).label("i")).cte("numbers", recursive=True)
    return numbers.union_all(sa.select(numbers.c.i + 1).where(numbers.c.i < count - 1))


def add_outbox(engine: Engine, rows: int) -> int:
    """An earlier issue (EARLIER, sent) with `rows` outbox rows already sent, inserted in
    bulk (INSERT ... SELECT); returns the delivery table's rows afterwards.

    (issue_id, subscriber_id) is unique, so the rows go to the subscribers in id order, one
    each, and past the N there are people who have since left: extra subscribers, state
    unsubscribed, so today's send still mails exactly the N active ones.
    """
    if rows <= 0:
        return outbox_size(engine)
    when = sa.literal(SENT_AT, D.c.sent_at.type)
    with engine.begin() as conn:
        old = conn.execute(sa.insert(ISSUE).values(
            period=EARLIER, cutoff_at=SENT_AT, since_at=SENT_AT - timedelta(days=28),
            state=IssueState.SENT, created_at=SENT_AT - timedelta(days=7)
        ).returning(ISSUE.c.id)).scalar_one()
        have = int(conn.execute(sa.select(sa.func.count()).select_from(S)).scalar_one())
        if rows > have:
            numbers = _numbers(conn, rows - have)
            email = sa.literal("left").concat(sa.cast(numbers.c.i, sa.String)) \
                .concat("@example.org")
            conn.execute(sa.insert(S).from_select(
                ["email", "name", "language", "state", "created_at", "updated_at"],
                sa.select(email, sa.literal(""), sa.literal(Language.EN.value),
                          sa.literal(SubscriberState.UNSUBSCRIBED.value), when, when)))
        people = sa.select(S.c.id, S.c.language).order_by(S.c.id).limit(rows).subquery()
        conn.execute(sa.insert(D).from_select(
            ["issue_id", "subscriber_id", "state", "language", "attempts", "first_attempt_at",
             "sent_at"],
            sa.select(sa.literal(old), people.c.id, sa.literal(DeliveryState.SENT.value),
                      people.c.language, sa.literal(1), when, when)))
    if engine.dialect.name == "postgresql":  # as autovacuum would soon: planner statistics
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE subscriber")
            conn.exec_driver_sql("ANALYZE delivery")
    return outbox_size(engine)


def outcome(engine: Engine, issue: int, ids: list[int], answered: dict[int, float]
            ) -> tuple[int, int]:
    """Of the subscribers `ids`: how many are not unsubscribed, and how many of those with a
    200 (answered[id], epoch seconds) got `issue`'s message later (its outbox sent_at)."""
    with engine.connect() as conn:
        gone = set(conn.execute(sa.select(S.c.id).where(
            S.c.id.in_(ids), S.c.state == SubscriberState.UNSUBSCRIBED.value)).scalars())
        found = conn.execute(sa.select(D.c.subscriber_id, D.c.sent_at).where(
            D.c.issue_id == issue, D.c.state == DeliveryState.SENT.value,
            D.c.subscriber_id.in_(ids))).all()
    sent_at: dict[int, datetime | str | None] = {sid: when for sid, when in found}
    late = 0
    for sid, stored in sent_at.items():
        when = as_utc(stored)
        if sid in answered and when is not None and when.timestamp() > answered[sid]:
            late += 1
    return len(set(ids) - gone), late
