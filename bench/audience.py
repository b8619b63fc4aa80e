"""The audience's queries at scale: the subscribers list, its counts, the CSV export and the
yearly report, at 100,000 subscribers on SQLite and PostgreSQL (figures in
docs/performance.md, "The subscribers list").

    .venv/bin/python bench/audience.py [--subscribers 100000] [--postgres URL|'']

Each figure is the median of five runs in this process, on a fresh database filled with one
Core executemany per table (a consent record and two history events per subscriber, a year of
sign-ups). It prints a Markdown table and the query plans of the list's queries.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.audience import directory, export, reports
from digest.audience.directory import Filter
from digest.settings import Settings, generate_secret_key
from digest.store.db import make_engine, upgrade
from digest.store.models import (
    Consent,
    Language,
    Subscriber,
    SubscriberEvent,
    SubscriberState,
)

LANGS = [Language.CY, Language.EN, Language.BOTH]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fill(engine: Engine, n: int) -> None:
    """`n` subscribers over 2026 (every 10th unsubscribed, every 500th bounced), each with a
    consent record and their history."""
    s, c, e = (t.__table__ for t in (Subscriber, Consent, SubscriberEvent))  # type: ignore[attr-defined,union-attr]
    rows, consents, events = [], [], []
    for i in range(1, n + 1):
        at = T0 + timedelta(seconds=i * 31_536_000 // n)
        state = (SubscriberState.BOUNCED if i % 500 == 0 else
                 SubscriberState.UNSUBSCRIBED if i % 10 == 0 else SubscriberState.ACTIVE)
        lang = LANGS[i % 3]
        rows.append({"id": i, "email": f"person{i:06d}@example.org", "name": f"Person {i}",
                     "language": lang, "state": state, "created_at": at, "updated_at": at})
        consents.append({"subscriber_id": i, "source": "import", "at": at,
                         "import_file": "big.csv", "import_line": i + 1})
        events.append({"subscriber_id": i, "at": at, "action": "subscribed",
                       "reason": "import", "actor": "import", "state": "active",
                       "language": lang})
        if state is not SubscriberState.ACTIVE:
            events.append({"subscriber_id": i, "at": at + timedelta(days=20),
                           "action": state.value, "reason": "link", "actor": "subscriber",
                           "state": state.value, "language": lang})
    with engine.begin() as conn:
        for table, values in ((s, rows), (c, consents), (e, events)):
            conn.execute(sa.insert(table), values)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def timed(fn: Callable[[], Any], runs: int = 5) -> float:
    """Median wall time of `fn` in milliseconds."""
    fn()  # warm caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(engine: Engine, settings: Settings, n: int) -> list[tuple[str, str]]:
    """(what, figure) rows for one database."""
    out: list[tuple[str, str]] = []
    with Session(engine) as session:
        oldest = n // 100  # a page near the end of the list

        def page(f: Filter, **kw: Any) -> Callable[[], Any]:
            return lambda: directory.page(session, f, **kw)

        cases = [
            ("counts per state and language (one GROUP BY)", lambda: directory.counts(session)),
            ("first page, no filter", page(Filter())),
            (f"a page near the end (before id {oldest:,})", page(Filter(), before=oldest)),
            ("first page, state = bounced (1 in 500)",
             page(Filter(state=SubscriberState.BOUNCED))),
            ("first page, language = both", page(Filter(language=Language.BOTH))),
            ("first page, active and cy", page(Filter(state=SubscriberState.ACTIVE,
                                                     language=Language.CY))),
            ("search an address prefix (person09999)", page(Filter(q="person09999"))),
            ("search a name prefix (person 4242)", page(Filter(q="Person 4242"))),
            ("search one letter (p: every row matches)", page(Filter(q="p"))),
        ]
        for what, fn in cases:
            out.append((what, f"{timed(fn):.1f} ms"))
        start = time.perf_counter()
        lines = sum(1 for _ in export.stream_csv(engine))
        took = time.perf_counter() - start
        tracemalloc.start()  # a second pass, traced: tracing slows Python several times
        sum(1 for _ in export.stream_csv(engine))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.append((f"CSV export of {lines - 1:,} rows (memory: peak of Python allocations)",
                    f"{took:.2f} s, {(lines - 1) / took:,.0f} rows/s, +{peak / 1e6:.1f} MB"))
        start = time.perf_counter()
        reports.year_report(session, settings, 2026)
        out.append(("yearly report (month ends rebuilt from the history)",
                    f"{time.perf_counter() - start:.2f} s"))
    return out


def plans(engine: Engine) -> list[str]:
    """The query plans of the list's main queries."""
    with Session(engine) as session:
        dialect = engine.dialect.name
        queries = {
            "page, active+cy": sa.select(directory.S.c.id).where(
                *directory.conditions(Filter(state=SubscriberState.ACTIVE,
                                             language=Language.CY), dialect))
            .order_by(directory.S.c.id.desc()).limit(51),
            "search": sa.select(directory.S.c.id).where(
                *directory.conditions(Filter(q="person0999"), dialect))
            .order_by(directory.S.c.id.desc()).limit(51),
            "counts": sa.select(directory.S.c.state, directory.S.c.language, sa.func.count())
            .group_by(directory.S.c.state, directory.S.c.language),
        }
        out = []
        for name, query in queries.items():
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
            rows = session.connection().exec_driver_sql(prefix + sql).all()
            out.append(f"{dialect} {name}: " + " | ".join(str(r[-1]) for r in rows))
        return out


def main() -> None:
    """Measure on SQLite, then on PostgreSQL, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None,  # type: ignore[call-arg]
                            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
                            secret_key=SecretStr(generate_secret_key()))
        targets = [("SQLite", settings.database_url)]
        admin = None
        if args.postgres:
            name = f"digest_bench_{uuid.uuid4().hex[:8]}"
            admin = make_engine(args.postgres).execution_options(isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            targets.append(("PostgreSQL", sa.engine.make_url(args.postgres).set(
                database=name).render_as_string(hide_password=False)))
        results, notes = {}, []
        try:
            for label, url in targets:
                engine = make_engine(url)
                upgrade(engine)
                start = time.perf_counter()
                fill(engine, args.subscribers)
                print(f"{label}: filled in {time.perf_counter() - start:.1f} s", flush=True)
                results[label] = measure(engine, settings.model_copy(
                    update={"database_url": url}), args.subscribers)
                notes += plans(engine)
                engine.dispose()
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
    labels = list(results)
    print(f"\n| {args.subscribers:,} subscribers | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for i, (what, _) in enumerate(results[labels[0]]):
        print(f"| {what} | " + " | ".join(results[lb][i][1] for lb in labels) + " |")
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
