"""GDPR rights over the store: everything held about one person (export), and erasure.

Erasure keeps what is anonymous: the subscriber row (its id, language, dates and the state
`erased`, with the address and name removed), its history's actions and times, and its
deliveries' outcomes, so that reports still add up; and a keyed hash of the address on the
suppression list, so that a later import of it is refused (digest.audience.suppression).
Everything else that could identify the person is removed: see `PERSONAL`. Callers commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from digest.audience import history, self_service, suppression
from digest.audience.address import stored_form, written_forms
from digest.audience.keyed import Keyed
from digest.delivery import outbox
from digest.settings import Settings
from digest.store.models import (
    DeliveryState,
    Subscriber,
    SubscriberAction,
    SubscriberState,
    Suppression,
    now_utc,
)

# Every column outside `subscriber` that can hold personal data, by table, with the column
# that names the subscriber: erase empties them. A new table with such data joins this list
# (tests/audience/test_gdpr.py looks for the person in every column of every table).
PERSONAL: list[tuple[str, str, tuple[str, ...]]] = [
    ("delivery", "subscriber_id", ("message_id", "relay_reply", "last_error", "claimed_by")),
    ("consent", "subscriber_id", ("import_file", "import_line", "ip_hash")),
    ("subscriber_event", "subscriber_id", ("detail", "ip_hash")),
    ("suppression", "signup_subscriber_id", ("signup_subscriber_id",)),
    ("bounce_event", "subscriber_id", ("recipient", "diagnostic", "detail", "raw")),
]
OPEN = (DeliveryState.PENDING, DeliveryState.RETRY, DeliveryState.SENDING)


class NotFound(LookupError):
    """No subscriber with that address (or id)."""


@dataclass(frozen=True)
class Erased:
    """What an erasure did."""

    subscriber_id: int
    deliveries_kept: int
    events_kept: int


def find(session: Session, email: str) -> Subscriber:
    """The subscriber with this address, typed in any form (address.stored_form), or NotFound."""
    if not email.strip():
        raise NotFound("no address given (it is empty)")
    sub = session.exec(select(Subscriber).where(Subscriber.email == stored_form(email))).first()
    if sub is None:
        raise NotFound(f"no subscriber with the address {email.strip()}")
    return sub


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def export_person(session: Session, subscriber_id: int) -> dict[str, Any]:
    """Everything the store holds about one subscriber, as JSON-ready values."""
    sub = session.get(Subscriber, subscriber_id)
    if sub is None:
        raise NotFound(f"no subscriber #{subscriber_id}")
    consent = history.consent_of(session, subscriber_id)
    events = history.events_of(session, subscriber_id)
    bounce_t = SQLModel.metadata.tables["bounce_event"]
    return {
        "exported_at": now_utc().isoformat(),
        "subscriber": {"id": sub.id, "email": sub.email, "name": sub.name,
                       "language": sub.language.value, "state": sub.state.value,
                       "created_at": _iso(sub.created_at), "updated_at": _iso(sub.updated_at)},
        "consent": None if consent is None else {
            "source": consent.source.value, "at": _iso(consent.at),
            "import_file": consent.import_file, "import_line": consent.import_line,
            "requested_at": _iso(consent.requested_at),
            "confirmed_at": _iso(consent.confirmed_at), "ip_hash": consent.ip_hash},
        "language_history": [{"at": _iso(at), "language": lang.value}
                             for at, lang in history.language_history(events)],
        "history": [{"at": _iso(e.at), "action": e.action.value,
                     "reason": e.reason.value if e.reason else None, "by": e.actor,
                     "state": e.state.value, "language": e.language.value,
                     "detail": e.detail, "ip_hash": e.ip_hash} for e in events],
        "deliveries": [{"issue": d.period, "state": d.state.value,
                        "language": d.language.value if d.language else None,
                        "attempts": d.attempts, "sent_at": _iso(d.sent_at),
                        "message_id": d.message_id, "relay_reply": d.reply}
                       for d in history.deliveries_of(session, subscriber_id)],
        "bounce_reports": [
            {"received_at": _iso(r.received_at), "kind": r.kind, "source": r.source,
             "outcome": r.outcome, "status": r.status, "diagnostic": r.diagnostic,
             "detail": r.detail, "raw_kept": r.raw is not None}
            for r in session.execute(sa.select(
                bounce_t.c.received_at, bounce_t.c.kind, bounce_t.c.source, bounce_t.c.outcome,
                bounce_t.c.status, bounce_t.c.diagnostic, bounce_t.c.detail, bounce_t.c.raw)
                .where(sa.or_(bounce_t.c.subscriber_id == subscriber_id,
                              bounce_t.c.recipient.in_(written_forms(sub.email))))
                .order_by(bounce_t.c.received_at))],
        "not_held": "No open tracking of any kind; click counts (when enabled) are per issue, "
                    "item and language only and name nobody.",
    }


def erase(session: Session, settings: Settings, subscriber_id: int, actor: str) -> Erased:
    """Remove a subscriber's personal data, keep anonymous counts, suppress the address."""
    # Messages not yet on the wire are never sent; one on the wire cannot record its outcome
    # (an outcome is only written to a row its run still holds, and `claimed_by` is emptied).
    # The outbox rows before the subscriber's, the order a send's outcome writer locks them in.
    outbox.stop_mail(session, subscriber_id, "erased")
    try:  # locked: a second erasure side by side waits for this one, then finds nobody
        sub = self_service.get(session, subscriber_id, lock=True)
    except LookupError:
        raise NotFound(f"no subscriber #{subscriber_id} to erase") from None
    suppression.add(session, Keyed(settings), sub.email)
    session.flush()
    tables = SQLModel.metadata.tables
    d = tables["delivery"]
    # Reports that matched nobody may still name the address.
    bounces = tables["bounce_event"]
    session.execute(sa.update(bounces).where(bounces.c.recipient.in_(written_forms(sub.email)))
                    .values(recipient=None, diagnostic=None, detail=None, raw=None))
    for name, key, columns in PERSONAL:
        table = tables[name]
        session.execute(sa.update(table).where(table.c[key] == subscriber_id)
                        .values({c: None for c in columns}))
    sub.email, sub.name = f"erased-{subscriber_id}@erased.invalid", ""
    sub.state, sub.updated_at = SubscriberState.ERASED, now_utc()
    history.record(session, sub, SubscriberAction.ERASED, actor)
    session.flush()
    kept = session.execute(sa.select(sa.func.count()).select_from(d)
                           .where(d.c.subscriber_id == subscriber_id)).scalar_one()
    events = len(history.events_of(session, subscriber_id))
    return Erased(subscriber_id, int(kept), events)


def suppressed_at(session: Session, settings: Settings, email: str) -> datetime | None:
    """When the address (typed in any form) was put on the suppression list, or None."""
    entry = session.get(Suppression, Keyed(settings).address(email))
    return entry.created_at if entry else None

