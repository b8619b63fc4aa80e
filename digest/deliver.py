"""Deliver stage: the outbox (one row per issue and subscriber) and the send loop.

Invariants:
- delivery rows are created with one INSERT ... SELECT; the unique (issue, subscriber)
  constraint and the NOT EXISTS make a second run add nothing;
- a row becomes `sent` only after the transport accepted its message;
- rows are claimed (`sending`, with a claim time) in their own committed transaction before
  anything is transmitted; a claim older than the lease is stale (its worker died) and is
  claimed again, so a crash loses nobody.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.db import session_scope
from digest.issues import get_issue, variants
from digest.messages import MessageTemplate, Recipient
from digest.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueState,
    Language,
    Subscriber,
    SubscriberState,
    now_utc,
)
from digest.settings import Settings
from digest.tokens import Tokens
from digest.transport import Outcome, Transport

D = Delivery.__table__  # type: ignore[attr-defined]
S = Subscriber.__table__  # type: ignore[attr-defined]
LEASE = timedelta(minutes=5)


@dataclass
class SendReport:
    """What one send run did."""

    issue_period: str
    created: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # by language
    failed: int = 0
    retry: int = 0
    skipped: int = 0


def create_deliveries(session: Session, issue_id: int) -> int:
    """Add a pending row for every active subscriber not yet in the outbox; returns rows added."""
    exists = sa.select(D.c.id).where(D.c.issue_id == issue_id, D.c.subscriber_id == S.c.id)
    select_new = sa.select(
        sa.literal(issue_id), S.c.id, sa.literal(DeliveryState.PENDING.value), sa.literal(0)
    ).where(S.c.state == SubscriberState.ACTIVE.value, ~sa.exists(exists))
    count = sa.select(sa.func.count()).select_from(D).where(D.c.issue_id == issue_id)
    before = session.execute(count).scalar_one()
    # rowcount of INSERT ... SELECT is -1 under psycopg 3 with SQLAlchemy 2.1, so count.
    session.execute(
        sa.insert(D).from_select(["issue_id", "subscriber_id", "state", "attempts"], select_new)
    )
    return int(session.execute(count).scalar_one() - before)


def claim_batch(engine: Engine, issue_id: int, limit: int, now: datetime) -> list[tuple[
        int, int, str, str, Language, SubscriberState]]:
    """Mark up to `limit` due rows as `sending` and return them with their subscriber's details."""
    due = sa.or_(
        D.c.state == DeliveryState.PENDING.value,
        sa.and_(D.c.state == DeliveryState.RETRY.value, D.c.next_attempt_at <= now),
        sa.and_(D.c.state == DeliveryState.SENDING.value, D.c.claimed_at < now - LEASE),
    )
    with session_scope(engine) as session:
        ids_q = sa.select(D.c.id).where(D.c.issue_id == issue_id, due).order_by(D.c.id).limit(limit)
        if engine.dialect.name == "postgresql":
            ids_q = ids_q.with_for_update(skip_locked=True)
        ids = [row[0] for row in session.execute(ids_q)]
        if not ids:
            return []
        session.execute(sa.update(D).where(D.c.id.in_(ids), due)
                        .values(state=DeliveryState.SENDING.value, claimed_at=now,
                                attempts=D.c.attempts + 1))
        rows = session.execute(
            sa.select(D.c.id, S.c.id, S.c.email, S.c.name, S.c.language, S.c.state)
            .join(S, S.c.id == D.c.subscriber_id).where(D.c.id.in_(ids)).order_by(D.c.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _record(engine: Engine, updates: list[dict[str, object]]) -> None:
    """Write outcomes of a batch in one transaction."""
    if not updates:
        return
    with session_scope(engine) as session:
        session.execute(
            sa.update(D).where(D.c.id == sa.bindparam("did")).values(
                state=sa.bindparam("new_state"), language=sa.bindparam("lang"),
                message_id=sa.bindparam("mid"), relay_reply=sa.bindparam("reply"),
                sent_at=sa.bindparam("sent"), last_error=sa.bindparam("err"),
                next_attempt_at=sa.bindparam("due")),
            updates,
        )


def send_issue(
    engine: Engine,
    settings: Settings,
    issue_ref: str | int,
    transport: Transport,
    *,
    clock: Callable[[], datetime] = now_utc,
    on_progress: Callable[[int], None] | None = None,
) -> SendReport:
    """Create the outbox rows and send every due message of an issue through `transport`."""
    with session_scope(engine) as session:
        issue = get_issue(session, issue_ref)
        if issue.state in (IssueState.CANCELLED, IssueState.SKIPPED):
            raise ValueError(f"issue {issue.period} is {issue.state.value}; it cannot be sent")
        stored = variants(session, issue)
        assert issue.id is not None
        issue_id = issue.id
        report = SendReport(issue.period)
        report.created = create_deliveries(session, issue_id)
        if issue.state is not IssueState.SENT:
            issue.state = IssueState.SENDING
    tokens = Tokens(settings)
    templates = {lang: MessageTemplate(settings, issue_id, v, tokens) for lang, v in stored.items()}
    while batch := claim_batch(engine, issue_id, settings.batch_size, clock()):
        updates: list[dict[str, object]] = []
        for did, sid, email, name, language, sub_state in batch:
            row: dict[str, object] = {"did": did, "lang": language, "mid": None, "reply": None,
                                      "sent": None, "err": None, "due": None}
            if sub_state is not SubscriberState.ACTIVE:
                row["new_state"] = DeliveryState.SKIPPED
                report.skipped += 1
                updates.append(row)
                continue
            message = templates[language].build(Recipient(sid, email, name))
            result = transport.send(message)
            row.update(mid=message.message_id, reply=result.reply)
            if result.outcome is Outcome.ACCEPTED:
                row.update(new_state=DeliveryState.SENT, sent=clock())
                report.sent[language.value] += 1
            elif result.outcome is Outcome.TEMPORARY:
                row.update(new_state=DeliveryState.RETRY, err=result.reply,
                           due=clock() + timedelta(minutes=5))
                report.retry += 1
            else:
                row.update(new_state=DeliveryState.FAILED, err=result.reply)
                report.failed += 1
            updates.append(row)
        _record(engine, updates)
        if on_progress:
            on_progress(len(batch))
    _finish_if_done(engine, issue_id)
    return report


def _finish_if_done(engine: Engine, issue_id: int) -> None:
    """Move the issue to `sent` once no row is pending, retrying or in flight."""
    open_states = [DeliveryState.PENDING.value, DeliveryState.SENDING.value,
                   DeliveryState.RETRY.value]
    with session_scope(engine) as session:
        left = session.execute(sa.select(sa.func.count()).select_from(D).where(
            D.c.issue_id == issue_id, D.c.state.in_(open_states))).scalar_one()
        if left == 0:
            issue = session.get(Issue, issue_id)
            assert issue is not None
            issue.state = IssueState.SENT


def delivery_counts(session: Session, issue_id: int) -> dict[tuple[str, str | None], int]:
    """Rows by (state, language) for an issue."""
    rows = session.execute(sa.select(D.c.state, D.c.language, sa.func.count())
                           .where(D.c.issue_id == issue_id)
                           .group_by(D.c.state, D.c.language))
    return {(s.value if hasattr(s, "value") else s, getattr(lang, "value", lang)): n
            for s, lang, n in rows}
