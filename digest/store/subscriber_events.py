"""The one way a subscriber's history is written: every state or language change calls
`record` (or, in bulk, executes `INSERT` with `event_row` values: imports, the send's bounces
and `self_service.unsubscribe_many`).

An event stores the subscriber's state and language *after* it, so the history alone says
who was on the list in which language at any moment (the yearly report reads it that way).
Callers own the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from digest.store.models import (
    ActionReason,
    Language,
    Subscriber,
    SubscriberAction,
    SubscriberEvent,
    SubscriberState,
    UTCDateTime,
    core_table,
    now_utc,
)

E = core_table(SubscriberEvent)
# One row per bind-parameter set, for executemany (imports, the outbox's bounces).
INSERT = sa.insert(E).values(
    subscriber_id=sa.bindparam("sid"), at=sa.bindparam("at", type_=UTCDateTime()),
    action=sa.bindparam("action"), reason=sa.bindparam("reason"),
    actor=sa.bindparam("actor"), state=sa.bindparam("state"),
    language=sa.bindparam("language"), detail=sa.bindparam("detail"),
    ip_hash=sa.bindparam("ip_hash"))


def event_row(subscriber_id: int, action: SubscriberAction, state: SubscriberState,
              language: Language, at: datetime, actor: str,
              reason: ActionReason | None = None, detail: str | None = None,
              ip_hash: str | None = None) -> dict[str, Any]:
    """The parameters of `INSERT` for one event (enum values as the column stores them)."""
    return {"sid": subscriber_id, "action": action.value, "state": state.value,
            "language": language.value, "at": at, "actor": actor[:200],
            "reason": reason.value if reason else None, "detail": detail, "ip_hash": ip_hash}


def record(session: Session, sub: Subscriber, action: SubscriberAction, actor: str, *,
           reason: ActionReason | None = None, detail: str | None = None,
           ip_hash: str | None = None, at: datetime | None = None,
           language: Language | None = None) -> SubscriberEvent:
    """Append to `sub`'s history, with the state and language it has now (after the change);
    a sign-up request records the language it asks for instead (applied when confirmed)."""
    if sub.id is None:
        session.flush()
    event = SubscriberEvent(subscriber_id=sub.id or 0, at=at or now_utc(), action=action,
                            reason=reason, actor=actor[:200], state=sub.state,
                            language=language or sub.language, detail=detail, ip_hash=ip_hash)
    session.add(event)
    return event
