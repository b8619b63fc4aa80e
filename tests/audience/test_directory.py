"""The subscribers list (search, filters, counts, keyset pages) and the streamed CSV export."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.audience import csv_import, directory, export, gdpr
from digest.audience.directory import Filter
from digest.settings import Settings
from digest.store.models import Language, Subscriber, SubscriberState
from tests.conftest import DATA

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def bulk(engine: Engine, n: int, start: int = 0) -> None:
    """`n` subscribers in one Core executemany: languages cycle, every 10th unsubscribed."""
    langs = list(Language)
    with engine.begin() as conn:
        conn.execute(sa.insert(Subscriber.__table__), [  # type: ignore[attr-defined]
            {"email": f"person{i:06d}@example.org", "name": f"Person {i}",
             "language": langs[i % 3], "created_at": T0 + timedelta(minutes=i),
             "updated_at": T0 + timedelta(minutes=i),
             "state": SubscriberState.UNSUBSCRIBED if i % 10 == 0 else SubscriberState.ACTIVE}
            for i in range(start, start + n)])


def test_search_by_address_or_name_prefix(session: Session, db_settings: Settings) -> None:
    csv_import.import_file(session, DATA / "subscribers" / "good.csv")
    session.add(Subscriber(email="pct%_x@example.org", name="Ŵyn 100% Jones",
                           language=Language.CY, state=SubscriberState.PENDING))
    session.commit()

    def emails(**kw: object) -> list[str]:
        return [r.email for r in directory.page(session, Filter(**kw)).rows]  # type: ignore[arg-type]

    assert emails(q="GWY") == ["gwyn@example.org"]
    assert emails(q="siân") == ["sian.evans@example.org"]  # the name, any case
    # SQLite's lower() folds ASCII letters only: there Ŵ finds Ŵ and ŵ finds ŵ.
    sqlite = session.get_bind().dialect.name == "sqlite"
    assert emails(q="SIÂN") == ([] if sqlite else ["sian.evans@example.org"])
    assert emails(q="ŵyn") == ([] if sqlite else ["pct%_x@example.org"])
    assert emails(q="ŴYN") == ["pct%_x@example.org"]
    assert emails(q="r") == ["rhys.price@example.org"]
    assert emails(q="pct%") == ["pct%_x@example.org"]  # a literal %, not a wildcard
    assert emails(q="p%") == []
    assert emails(q="gwyn@") == ["gwyn@example.org"]  # an address: only addresses are searched
    session.add(Subscriber(email="anna@xn--bcher-kva.example", name="Anna",
                           language=Language.EN, state=SubscriberState.ACTIVE))
    session.commit()
    for typed in ("anna@bücher.example", "ANNA@BÜCHER", "anna@xn--bcher-kva.example", "anna@"):
        assert emails(q=typed) == ["anna@xn--bcher-kva.example"], typed
    session.delete(gdpr.find(session, "anna@bücher.example"))
    session.commit()
    assert emails(q="example") == []
    assert emails(language=Language.BOTH) == ["sian.evans@example.org"]
    assert emails(state=SubscriberState.PENDING) == ["pct%_x@example.org"]
    assert emails(state=SubscriberState.ACTIVE, language=Language.EN) == [
        "rhys.price@example.org"]


def test_a_search_ending_in_the_last_code_point(engine: Engine, session: Session,
                                               db_settings: Settings) -> None:
    """U+10FFFF has no next character: the range's upper bound moves the one before it on
    (before, `chr()` raised and the list page answered 500)."""
    top = chr(0x10FFFF)
    session.add_all([Subscriber(email="z@example.org", name=f"Zed{top}{top}x",
                                language=Language.CY, state=SubscriberState.ACTIVE),
                     Subscriber(email="y@example.org", name="Zee",
                                language=Language.CY, state=SubscriberState.ACTIVE)])
    session.commit()

    def emails(q: str) -> list[str]:
        return [r.email for r in directory.page(session, Filter(q=q)).rows]

    assert emails(f"zed{top}") == ["z@example.org"]
    assert emails(f"zed{top}{top}") == ["z@example.org"]
    assert emails(top) == []
    assert emails(f"@{top}") == []
    assert list(export.stream_csv(engine, Filter(q=top)))[1:] == []


def test_counts_and_the_erased(session: Session, db_settings: Settings) -> None:
    csv_import.import_file(session, DATA / "subscribers" / "good.csv")
    gdpr.erase(session, db_settings, gdpr.find(session, "gwyn@example.org").id or 0, "t")
    session.commit()
    counts = directory.counts(session)
    assert counts.state(SubscriberState.ACTIVE) == 2
    assert counts.state(SubscriberState.ERASED) == 1
    assert counts.language(Language.CY) == 0 and counts.language(Language.EN) == 1
    assert counts.matching(Filter()) == 2
    assert counts.matching(Filter(state=SubscriberState.ERASED)) == 1
    assert [r.email for r in directory.page(session, Filter()).rows] == [
        "rhys.price@example.org", "sian.evans@example.org"]
    assert [r.state for r in directory.page(session, Filter(
        state=SubscriberState.ERASED)).rows] == [SubscriberState.ERASED]


def test_keyset_pages_forwards_and_back(engine: Engine, session: Session) -> None:
    bulk(engine, 120)
    first = directory.page(session, Filter())
    assert len(first.rows) == 50 and first.newer is None and first.older is not None
    assert first.rows[0].email == "person000119@example.org"
    second = directory.page(session, Filter(), before=first.older)
    third = directory.page(session, Filter(), before=second.older)
    assert len(second.rows) == 50 and len(third.rows) == 20 and third.older is None
    seen = [r.id for p in (first, second, third) for r in p.rows]
    assert len(set(seen)) == 120 and seen == sorted(seen, reverse=True)
    assert second.newer is not None
    back = directory.page(session, Filter(), after=second.newer)
    assert [r.id for r in back.rows] == [r.id for r in first.rows] and back.newer is None
    assert directory.page(session, Filter(), after=third.newer).rows == second.rows
    only = directory.page(session, Filter(state=SubscriberState.UNSUBSCRIBED))
    assert len(only.rows) == 12 and only.older is None


def test_export_is_what_import_reads_plus_state_and_dates(session: Session,
                                                          engine: Engine) -> None:
    csv_import.import_file(session, DATA / "subscribers" / "good.csv")
    session.commit()
    lines = list(export.stream_csv(engine))
    rows = list(csv.DictReader(io.StringIO("".join(lines))))
    assert tuple(rows[0]) == export.COLUMNS
    assert [(r["email"], r["name"], r["language"], r["state"], r["consent_source"])
            for r in rows] == [("sian.evans@example.org", "Siân Evans", "both", "active",
                                "import"),
                               ("gwyn@example.org", "Gwŷn ap Siôn", "cy", "active", "import"),
                               ("rhys.price@example.org", "Rhys Price", "en", "active",
                                "import")]
    assert datetime.fromisoformat(rows[0]["subscribed_at"]).tzinfo is not None
    only = list(export.stream_csv(engine, Filter(language=Language.CY)))
    assert len(only) == 2 and only[1].startswith("gwyn@example.org,")


@pytest.mark.parametrize("n", [20_000])
def test_export_streams_without_holding_the_list(tmp_path: object, n: int,
                                                 settings: Settings) -> None:
    from digest.store.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    bulk(engine, n)
    stream = export.stream_csv(engine)
    tracemalloc.start()
    count = sum(1 for _ in stream)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine.dispose()
    assert count == n + 1
    # The lines alone are ~1.7 MB, their rows as Python objects several times that; a batch
    # of 2,000 rows is about 1 MB.
    assert peak < 2_000_000, peak


def test_the_list_queries_use_their_indexes(settings: Settings) -> None:
    """SQLite's plans (on an analysed table): each filter and search seeks an index."""
    from digest.store.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    bulk(engine, 2000)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    S = directory.S

    def plan(query: sa.Select[Any]) -> str:
        sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            return " | ".join(str(r[-1]) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + sql))

    def page_of(f: Filter) -> str:
        return plan(sa.select(S.c.id).where(*directory.conditions(f, "sqlite"))
                    .order_by(S.c.id.desc()).limit(51))

    assert "ix_subscriber_state_language_id (state=? AND language=?)" in page_of(
        Filter(state=SubscriberState.ACTIVE, language=Language.CY))
    searched = page_of(Filter(q="person0001"))
    assert "sqlite_autoindex_subscriber_1 (email>? AND email<?)" in searched
    assert "ix_subscriber_name_lower" in searched
    assert "COVERING INDEX ix_subscriber_state_language_id" in plan(
        sa.select(S.c.state, S.c.language, sa.func.count()).group_by(S.c.state, S.c.language))
    engine.dispose()
