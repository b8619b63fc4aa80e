"""An issue's first outbox is created without a per-subscriber look at `delivery`: planned
against an empty, analysed table, PostgreSQL made that look a scan of the table the
statement itself was filling (quadratic: 200,000 subscribers took over ten minutes)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlmodel import Session

from digest.delivery import outbox
from digest.settings import Settings
from digest.store.models import Language, Subscriber, SubscriberState
from tests.factories import add_sample_content, add_subscribers, approved_issue


def _plans(session: Session, issue_id: int) -> tuple[int, list[str]]:
    """Create the outbox, and the plan of each INSERT it ran (EXPLAIN, in its place)."""
    conn = session.connection()
    inserts: list[tuple[str, object]] = []

    def seen(_c: object, _cur: object, statement: str, params: object, _ctx: object,
             _many: bool) -> None:
        if "INSERT INTO delivery" in statement:
            inserts.append((statement, params))

    sa.event.listen(conn, "before_cursor_execute", seen)
    try:
        created = outbox.create_deliveries(session, issue_id)
    finally:
        sa.event.remove(conn, "before_cursor_execute", seen)
    explain = "EXPLAIN" if conn.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
    plans = ["\n".join(str(r[-1]) for r in conn.exec_driver_sql(f"{explain} {s}", p))  # type: ignore[arg-type]
             for s, p in inserts]
    return created, plans


def test_the_first_outbox_looks_at_no_delivery_rows(session: Session,
                                                    db_settings: Settings) -> None:
    add_sample_content(session)
    people = add_subscribers(session, per_language=3)
    issue = approved_issue(session, db_settings)
    conn = session.connection()
    conn.exec_driver_sql("ANALYZE")  # `delivery` empty and analysed: the trap
    session.commit()
    created, plans = _plans(session, issue.id or 0)
    assert created == len(people)
    looks = [line for plan in plans for line in plan.splitlines()
             if re.search(r"(Scan|SCAN|SEARCH)\b.*\bdelivery\b", line)]
    assert plans and not looks, plans
    session.commit()
    # Run again (a resumed send): only those not in it yet are added, nobody twice.
    more = [Subscriber(email=f"later{n}@example.org", name="Later", language=Language.EN,
                       state=SubscriberState.ACTIVE) for n in range(2)]
    session.add_all(more)
    session.commit()
    again, _ = _plans(session, issue.id or 0)
    assert again == len(more)
    assert outbox.create_deliveries(session, issue.id or 0) == 0
    session.rollback()
