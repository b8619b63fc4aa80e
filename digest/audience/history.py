"""Consent records and the subscriber history: written on every change, read for the pages.

The single writer of events is `digest.store.subscriber_events.record` (the send path uses it
too); this module adds the consent rules around it and the readers. Callers commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from digest.store import subscriber_events
from digest.store.models import (
    ActionReason,
    Consent,
    ConsentSource,
    Delivery,
    DeliveryState,
    Issue,
    Language,
    Subscriber,
    SubscriberAction,
    SubscriberEvent,
    SubscriberState,
    core_table,
    now_utc,
)

C = core_table(Consent)
SUBSCRIBER = "subscriber"  # the actor of a person's own actions
IMPORT = "import"


def record(session: Session, sub: Subscriber, action: SubscriberAction, actor: str, *,
           reason: ActionReason | None = None, detail: str | None = None,
           ip_hash: str | None = None, language: Language | None = None) -> None:
    """Append to the history (see digest.store.subscriber_events.record)."""
    subscriber_events.record(session, sub, action, actor, reason=reason, detail=detail,
                             ip_hash=ip_hash, language=language)


def imported(session: Session, path: Path | None, added: Sequence[tuple[int, int, Language]],
             changed_language: Sequence[tuple[int, Language, SubscriberState]],
             at: datetime) -> None:
    """Consent and history for an import: `added` is (subscriber id, line, language) of new people,
    `changed_language` (subscriber id, new language, state) of known ones."""
    name = str(path)[:500] if path is not None else None
    if added:
        session.execute(sa.insert(C), [
            {"subscriber_id": sid, "source": ConsentSource.IMPORT, "at": at,
             "import_file": name, "import_line": line} for sid, line, _ in added])
    rows = [subscriber_events.event_row(
        sid, SubscriberAction.SUBSCRIBED, SubscriberState.ACTIVE, lang, at, IMPORT,
        ActionReason.IMPORT, f"{name}:{line}" if name else None) for sid, line, lang in added]
    rows += [subscriber_events.event_row(sid, SubscriberAction.LANGUAGE_CHANGED, state, lang,
                                         at, IMPORT, ActionReason.IMPORT)
             for sid, lang, state in changed_language]
    if rows:
        session.execute(subscriber_events.INSERT, rows)


def signup_requested(session: Session, sub: Subscriber, ip_hash: str | None,
                     language: Language) -> None:
    """A web sign-up asked for `sub` (new and pending, or known and not active), in
    `language`: the language its confirmation gives them."""
    record(session, sub, SubscriberAction.SUBSCRIBED, SUBSCRIBER, reason=ActionReason.WEB,
           ip_hash=ip_hash, language=language)
    consent = session.get(Consent, sub.id)
    if consent is None:  # a new address: its basis is this request, until it is confirmed
        session.add(Consent(subscriber_id=sub.id or 0, source=ConsentSource.WEB, at=now_utc(),
                            requested_at=now_utc(), ip_hash=ip_hash))
    elif consent.source is ConsentSource.WEB and consent.confirmed_at is None:
        consent.requested_at, consent.ip_hash = now_utc(), ip_hash


def last_left(session: Session, subscriber_id: int) -> datetime | None:
    """When the subscriber last unsubscribed or bounced (by any route), or None."""
    return session.exec(select(SubscriberEvent.at).where(
        SubscriberEvent.subscriber_id == subscriber_id,
        col(SubscriberEvent.action).in_([SubscriberAction.UNSUBSCRIBED,
                                         SubscriberAction.BOUNCED])
    ).order_by(col(SubscriberEvent.at).desc()).limit(1)).first()


def confirmed(session: Session, sub: Subscriber) -> None:
    """The person confirmed a web sign-up: that is now the basis we hold the address on."""
    asked = session.exec(select(SubscriberEvent).where(
        SubscriberEvent.subscriber_id == sub.id,
        SubscriberEvent.action == SubscriberAction.SUBSCRIBED,
        SubscriberEvent.reason == ActionReason.WEB).order_by(col(SubscriberEvent.at).desc(),
                                                             col(SubscriberEvent.id).desc())
    ).first()
    now = now_utc()
    consent = session.get(Consent, sub.id) or Consent(subscriber_id=sub.id or 0,
                                                      source=ConsentSource.WEB, at=now)
    consent.source, consent.at, consent.confirmed_at = ConsentSource.WEB, now, now
    consent.requested_at = asked.at if asked else None
    consent.ip_hash = asked.ip_hash if asked else None
    consent.import_file = consent.import_line = None
    session.add(consent)
    if asked is not None:  # the language the request asked for, not one a stranger's changed
        sub.language = asked.language
    record(session, sub, SubscriberAction.CONFIRMED, SUBSCRIBER, reason=ActionReason.WEB)


@dataclass(frozen=True)
class DeliveryLine:
    """One issue sent (or not) to a subscriber."""

    period: str
    state: DeliveryState
    language: Language | None
    attempts: int
    sent_at: datetime | None
    message_id: str | None
    reply: str | None  # the relay's reply or the last error


def consent_of(session: Session, subscriber_id: int) -> Consent | None:
    """The subscriber's consent record."""
    return session.get(Consent, subscriber_id)


def events_of(session: Session, subscriber_id: int) -> list[SubscriberEvent]:
    """The subscriber's history, oldest first."""
    return list(session.exec(select(SubscriberEvent)
                             .where(SubscriberEvent.subscriber_id == subscriber_id)
                             .order_by(col(SubscriberEvent.at), col(SubscriberEvent.id))))


def language_history(events: Sequence[SubscriberEvent]) -> list[tuple[datetime, Language]]:
    """When the subscriber chose which language: the first event's, then each change."""
    out: list[tuple[datetime, Language]] = []
    for event in events:
        asked = event.action is SubscriberAction.SUBSCRIBED and event.reason is ActionReason.WEB
        if out and asked:
            continue  # a request's language is the one asked for: it holds once confirmed
        if not out or event.language is not out[-1][1]:
            out.append((event.at, event.language))
    return out


def deliveries_of(session: Session, subscriber_id: int) -> list[DeliveryLine]:
    """Every outbox row of the subscriber, newest issue first."""
    rows = session.execute(
        sa.select(Issue.period, Delivery.state, Delivery.language, Delivery.attempts,  # type: ignore[call-overload]
                  Delivery.sent_at, Delivery.message_id,
                  sa.func.coalesce(Delivery.last_error, Delivery.relay_reply))
        .join(Issue, col(Issue.id) == col(Delivery.issue_id))
        .where(Delivery.subscriber_id == subscriber_id).order_by(col(Issue.period).desc()))
    return [DeliveryLine(*row) for row in rows]


def why(events: Sequence[SubscriberEvent]) -> str:
    """The subscriber's state and the event that put them there, in one line."""
    if not events:
        return "no history"
    last = next((e for e in reversed(events) if e.action is not
                 SubscriberAction.LANGUAGE_CHANGED), events[-1])
    reason = f" ({last.reason.value})" if last.reason else ""
    return (f"{last.state.value} since {last.at:%Y-%m-%d %H:%M} UTC: {last.action.value}{reason}"
            f" by {last.actor}")
