"""An unsubscribe's `UPDATE delivery ... WHERE subscriber_id = ...` finds its rows by index."""

from __future__ import annotations

from sqlmodel import Session

from digest.delivery.outbox import STOP_ROWS


def test_stop_mail_uses_the_subscriber_index(session: Session) -> None:
    conn = session.connection()
    params = {"sid": 1, "reason": "unsubscribed"}
    if conn.dialect.name == "postgresql":
        # An empty table is cheapest to scan: forbid that to see which index it would use.
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        compiled = STOP_ROWS.compile(dialect=conn.dialect)
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(
            f"EXPLAIN {compiled}", {k: params[k] for k in compiled.params}))
        assert "ix_delivery_subscriber" in plan and "Seq Scan" not in plan, plan
    else:
        compiled = STOP_ROWS.compile(dialect=conn.dialect)
        values = tuple(params[k] for k in compiled.positiontup or [])
        plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", values))
        assert "USING INDEX ix_delivery_subscriber" in plan, plan
    session.rollback()
