"""In-process parts of the send benchmark: the database it sends from, assembly, the outbox
steps and a profiled send (the baselines are in baselines.py, the report in report.py).

Everything here runs in the benchmark's own process on one thread unless it says otherwise;
the measured `digest issue send` runs are separate processes (see send.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine, make_url

from digest.content import files, sync
from digest.delivery import outbox, outcomes, run
from digest.delivery.messages import MessageTemplate, Recipient
from digest.delivery.transports import factory
from digest.delivery.transports.base import Outcome, SendResult
from digest.issue import lifecycle, service
from digest.settings import Settings, generate_secret_key
from digest.store.db import make_engine, session_scope, upgrade
from digest.store.models import Delivery, IssueVariant, Language, Subscriber, SubscriberState
from digest.tokens import Purpose, Tokens

AS_OF = datetime(2026, 9, 7, 8, 0, tzinfo=UTC)  # 09:00 BST, first Monday of September 2026
PERIOD = "2026-09"
SECRET = generate_secret_key()  # this run's own; the child sends get it in their environment
LANGS = ("cy", "en", "both")
S = Subscriber.__table__  # type: ignore[attr-defined]
D = Delivery.__table__  # type: ignore[attr-defined]


def database_url(db: Path | str) -> str:
    """A database URL, or a SQLite file as one."""
    return db if isinstance(db, str) else f"sqlite:///{db}"


def bench_settings(db_path: Path | str, var_dir: Path, port: int) -> Settings:
    """Settings as the child sends will see them (no .env, this benchmark's secret);
    `db_path` is a SQLite file or a database URL."""
    return Settings(_env_file=None,  # type: ignore[call-arg]
                    database_url=database_url(db_path), var_dir=var_dir,
                    secret_key=SecretStr(SECRET), transport="smtp", smtp_host="127.0.0.1",
                    smtp_port=port)


@dataclass(frozen=True)
class Prepared:
    """A database ready to send from: content synced, issue planned, N subscribers."""

    db_path: Path | str  # a SQLite file or a PostgreSQL URL
    subscribers: int
    insert_seconds: float
    plan_message: str
    mix: Counter[str]


def prepare_database(db_path: Path | str, n: int, settings: Settings) -> Prepared:
    """Migrate, sync the repo's content, plan the issue and bulk-insert N subscribers."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with session_scope(engine) as session:
        sync.upsert(session, files.load_dir(settings.content_dir, settings.tz), settings.tz)
        outcome = service.plan(session, settings, AS_OF)
        if outcome.issue is None:
            raise RuntimeError(f"no issue planned: {outcome.message}")
        lifecycle.approve(session, outcome.issue, "bench")  # sends need an approved issue
    rows = [{"email": f"s{i}@example.org", "name": f"Person {i}", "language": LANGS[i % 3],
             "state": SubscriberState.ACTIVE, "created_at": AS_OF, "updated_at": AS_OF}
            for i in range(n)]
    start = time.perf_counter()
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.insert(S), rows)  # Core executemany
    seconds = time.perf_counter() - start
    engine.dispose()
    return Prepared(db_path, n, seconds, outcome.message,
                    Counter(str(r["language"]) for r in rows))


def copy_database(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database (backup API, WAL included)."""
    source, target = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def stored_variants(settings: Settings) -> dict[Language, IssueVariant]:
    """The planned issue's variants by language."""
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        found = service.variants(session, service.get_issue(session, PERIOD))
    engine.dispose()
    return found


def templates_for(settings: Settings,
                  variants: dict[Language, IssueVariant]) -> dict[Language, MessageTemplate]:
    """One MessageTemplate per variant, as a send builds them."""
    tokens = Tokens(settings)
    issue_id = next(iter(variants.values())).issue_id
    return {lang: MessageTemplate(settings, issue_id, v, tokens) for lang, v in variants.items()}


def recipients(settings: Settings) -> list[tuple[Language, Recipient]]:
    """Every subscriber as (language, Recipient), read back as plain tuples."""
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(S.c.language, S.c.id, S.c.email, S.c.name)
                            .order_by(S.c.id)).all()
    engine.dispose()
    return [(Language(lang), Recipient(i, email, name)) for lang, i, email, name in rows]


def assembly(templates: dict[Language, MessageTemplate],
             rcpts: list[tuple[Language, Recipient]]) -> float:
    """Seconds to build every recipient's message with MessageTemplate.build (one thread)."""
    build = {lang: t.build for lang, t in templates.items()}
    start = time.perf_counter()
    for lang, rcpt in rcpts:
        build[lang](rcpt)
    return time.perf_counter() - start


def mean_wire_size(templates: dict[Language, MessageTemplate], mix: Counter[str]) -> int:
    """Mean size in bytes of the dot-stuffed message over the subscribers' language mix."""
    total = sum(mix.values()) or 1
    sizes = {lang.value: len(t.build(Recipient(12345, "s12345@example.org", "Person 12345")).wire
                             or b"") for lang, t in templates.items()}
    return round(sum(sizes[lang] * n for lang, n in mix.items()) / total)


def machine_speed(repeats: int = 3) -> tuple[float, float]:
    """Fixed work that does not change with the code, to compare runs on different machines:
    ns per iteration of a pure-Python loop, and µs per HMAC-SHA1 of a short value (best of
    `repeats`)."""
    loops, macs = [], []
    key = b"k" * 20
    for _ in range(repeats):
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        loops.append((time.perf_counter() - start) * 1e3)  # ns per iteration
        start = time.perf_counter()
        for _ in range(100_000):
            hmac.digest(key, b"12345", "sha1")
        macs.append((time.perf_counter() - start) * 10)  # µs per digest
    return min(loops), min(macs)


@dataclass(frozen=True)
class Components:
    """Timings of the outbox steps a send repeats, on a fresh outbox of N rows."""

    create_seconds: float  # prepare_issue: INSERT ... SELECT of N rows
    claim_batch: int
    claim_ms: float  # per claim of `claim_batch` rows
    claim_late_ms: float  # the same with 90% of the outbox already sent
    claim_plan: str  # SQLite's plan for the claim's first SELECT
    record_ms: dict[int, float]  # group size -> ms per commit


def _time_claims(engine: sa.Engine, issue_id: int, batch: int, lease: timedelta,
                 claims: int) -> tuple[float, list[outbox.Claimed]]:
    rows: list[outbox.Claimed] = []
    start = time.perf_counter()
    for _ in range(claims):
        rows += outbox.claim(engine, issue_id, "bench", batch, datetime.now(UTC), lease)
    return (time.perf_counter() - start) / claims * 1e3, rows


def _claim_plan(engine: sa.Engine, issue_id: int, lease: timedelta) -> str:
    """EXPLAIN QUERY PLAN of the first SELECT that outbox.claim sends (captured, not copied)."""
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        if not seen and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", grab)
    try:
        outbox.claim(engine, issue_id, "bench-plan", 1, datetime.now(UTC), lease)
    finally:
        sa.event.remove(engine, "before_cursor_execute", grab)
    if not seen:
        return "?"
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + seen[0][0], seen[0][1]).all()
    return "; ".join(str(row[-1]) for row in plan)


def issue_id_of(engine: Engine) -> int:
    """The id of the benchmark's issue (PERIOD)."""
    with session_scope(engine) as session:
        return service.get_issue(session, PERIOD).id or 0


def outbox_creation(settings: Settings) -> float:
    """Seconds `run.prepare_issue` takes to create the issue's outbox (one INSERT … SELECT)."""
    engine = make_engine(settings.database_url)
    issue_id = issue_id_of(engine)
    start = time.perf_counter()
    run.prepare_issue(engine, issue_id, "bench")
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def components(settings: Settings, connections: int = 4, claims: int = 20) -> Components:
    """Time prepare_issue, outbox.claim and OutcomeWriter.write as a send's workers do."""
    engine = make_engine(settings.database_url)
    start = time.perf_counter()
    issue_id = issue_id_of(engine)
    run.prepare_issue(engine, issue_id, "bench")
    create = time.perf_counter() - start
    batch = settings.batch_size  # as each worker of run._Run claims
    lease = settings.claim_lease
    plan = _claim_plan(engine, issue_id, lease)
    claim_ms, rows = _time_claims(engine, issue_id, batch, lease, claims)
    accepted = SendResult(Outcome.ACCEPTED, "250 2.0.0 Ok")
    attempts = [outbox.Attempt(r, accepted, f"<b.{r.delivery_id}@bench>", datetime.now(UTC))
                for r in rows]
    policy = run.retry_policy(settings)
    record_ms: dict[int, float] = {}
    offset = 0
    writer = outcomes.OutcomeWriter(engine)
    for group in (1, connections):
        commits = min(40, (len(attempts) - offset) // group // 2)
        start = time.perf_counter()
        for k in range(commits):
            writer.write(attempts[offset + k * group: offset + (k + 1) * group], policy)
        record_ms[group] = (time.perf_counter() - start) / max(commits, 1) * 1e3
        offset += commits * group
    writer.close()
    with engine.begin() as conn:  # as late in a send: 90% sent, the rest still pending
        last = conn.execute(sa.select(sa.func.max(D.c.id))).scalar_one() or 0
        conn.execute(sa.update(D).where(D.c.id <= int(last * 0.9), D.c.state == "pending")
                     .values(state="sent"))
    late_ms, _ = _time_claims(engine, issue_id, batch, lease, claims)
    engine.dispose()
    return Components(create, batch, claim_ms, late_ms, plan, record_ms)


def token_costs(settings: Settings, ids: list[int]) -> tuple[float, float]:
    """Seconds for two Tokens.make per id, and for the same tokens with the key derived once.

    The second is this benchmark's own code (digest is not changed); it checks it makes
    exactly the tokens Tokens.make makes.
    """
    tokens = Tokens(settings)
    start = time.perf_counter()
    for i in ids:
        tokens.make(Purpose.UNSUBSCRIBE, i)
        tokens.make(Purpose.PREFERENCES, i)
    current = time.perf_counter() - start
    secret = settings.signing_key().encode()
    # itsdangerous Signer defaults: django-concat key derivation, HMAC-SHA1, "." separator
    keys = {p: hashlib.sha1(f"digest.{p.value}".encode() + b"signer" + secret).digest()
            for p in Purpose}

    def make(purpose: Purpose, i: int) -> str:
        value = str(i).encode()
        sig = base64.urlsafe_b64encode(hmac.digest(keys[purpose], value, "sha1")).rstrip(b"=")
        return (value + b"." + sig).decode("ascii")

    for i in ids[:100]:
        for p in Purpose:
            if make(p, i) != tokens.make(p, i):
                raise RuntimeError("the key-once token differs from Tokens.make")
    start = time.perf_counter()
    for i in ids:
        make(Purpose.UNSUBSCRIBE, i)
        make(Purpose.PREFERENCES, i)
    return current, time.perf_counter() - start


def sent_rows(db_path: Path | str) -> int:
    """Outbox rows in state `sent` (checked after each measured send)."""
    engine = make_engine(database_url(db_path))
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(D)
                         .where(D.c.state == "sent")).scalar_one()
    engine.dispose()
    return int(n)


@dataclass(frozen=True)
class SendProfile:
    """Where an in-process send_issue spends its time (outbox calls timed, nothing changed)."""

    sent: int
    seconds: float
    calls: dict[str, tuple[int, float]]  # name -> (calls, total seconds)


def profile_send(settings: Settings, connections: int, limit: int) -> SendProfile:
    """Run run.send_issue here until `limit` messages, timing outbox.claim and the
    group commits (`OutcomeWriter.write`).

    The two are wrapped with timers for this run only, then restored; the send itself is the
    unchanged code.
    """
    calls: dict[str, list[float]] = {"claim": [], "record": []}
    homes: dict[str, Any] = {"claim": outbox, "record": outcomes.OutcomeWriter}
    attributes = {"claim": "claim", "record": "write"}
    originals = {name: getattr(homes[name], attributes[name]) for name in calls}

    def timed(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                calls[name].append(time.perf_counter() - start)
        return call

    stop = threading.Event()

    def progress(report: run.SendReport) -> None:
        if report.total_sent >= limit:
            stop.set()

    engine = make_engine(settings.database_url)
    for name in calls:
        setattr(homes[name], attributes[name], timed(name))
    try:
        start = time.perf_counter()
        report = run.send_issue(engine, settings, issue_id_of(engine),
                                factory.transport_factory(settings), connections=connections,
                                stop=stop, on_progress=progress, actor="bench")
        seconds = time.perf_counter() - start
    finally:
        for name, fn in originals.items():
            setattr(homes[name], attributes[name], fn)
        engine.dispose()
    return SendProfile(report.total_sent, seconds,
                       {name: (len(v), sum(v)) for name, v in calls.items()})


class PostgresScratch:
    """Scratch databases on a PostgreSQL server, all dropped by `close()`."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = sa.create_engine(self.url.set(drivername="postgresql+psycopg"),
                                      isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def available(self) -> str | None:
        """None if the server answers, else why not."""
        try:
            with self.admin.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except sa.exc.OperationalError as exc:
            return str(exc.orig).strip().splitlines()[0]
        return None

    def version(self) -> str:
        """The server's version number."""
        with self.admin.connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar_one())

    def create(self, name: str, template: str | None = None) -> str:
        """A fresh database (a copy of `template` if given); returns its URL."""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"'
                                 + (f' TEMPLATE "{template}"' if template else ""))
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        """Drop one scratch database."""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Drop every database this made."""
        for name in reversed(self.created):
            self.drop(name)
        self.admin.dispose()
