"""Record a report, match it to a delivery and a subscriber, and apply the policy.

Each function takes a session and leaves the commit to its caller. Recording is keyed on
the report's `event_id`: a report recorded before changes nothing (the insert is `ON
CONFLICT DO NOTHING`, so two processes recording the same report at once are safe too).

Matching, strongest first: the VERP tag (verified with the key derived from the secret key)
names one delivery row; else the original Message-ID, if it is one `MessageTemplate` made
and the row was sent with it; else the recipient address names a subscriber (and their
latest sent delivery, for the per-issue counts). What a match may do is `policy.Policy`'s.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from digest.audience.address import valid_or_none
from digest.bounces.events import Feedback
from digest.bounces.parse import parse
from digest.bounces.policy import GMAIL_COMPLAINT_LINE, Action, Decision, Policy
from digest.bounces.webhooks.base import Verified
from digest.delivery import outbox, verp
from digest.delivery.messages import message_id_key
from digest.settings import Settings
from digest.store import subscriber_events
from digest.store.models import (
    ActionReason,
    BounceEvent,
    Delivery,
    DeliveryState,
    FeedbackKind,
    FeedbackOutcome,
    FeedbackSource,
    Issue,
    MatchedBy,
    Subscriber,
    SubscriberAction,
    SubscriberState,
    WebhookNonce,
    core_table,
    now_utc,
)
from digest.store.models.bounces import KEY_LENGTH

E = core_table(BounceEvent)
N = core_table(WebhookNonce)
ISSUE = core_table(Issue)
D = core_table(Delivery)
NONCE_KEEP = timedelta(days=2)  # far longer than any provider's freshness window


@dataclass(frozen=True)
class Processed:
    """What recording one report did; `new` is False when it had been recorded before."""

    event_id: str
    kind: FeedbackKind
    outcome: FeedbackOutcome
    subscriber_id: int | None
    delivery_id: int | None
    new_state: SubscriberState | None
    detail: str
    new: bool = True


@dataclass(frozen=True)
class Match:
    """The delivery and subscriber a report names, and how it named them."""

    by: MatchedBy | None = None
    subscriber: Subscriber | None = None
    delivery_id: int | None = None
    issue_id: int | None = None


def process_raw(session: Session, settings: Settings, raw: bytes, source: FeedbackSource,
                *, now: datetime | None = None) -> list[Processed]:
    """Parse a returned message and record each report in it (the raw bytes on the first)."""
    return [process_feedback(session, settings, feedback, source,
                             raw=raw if index == 0 else None, now=now)
            for index, feedback in enumerate(parse(raw))]


def process_feedback(session: Session, settings: Settings, feedback: Feedback,
                     source: FeedbackSource, raw: bytes | None = None, *,
                     now: datetime | None = None) -> Processed:
    """Record one report and apply the policy to it; a report recorded before is a no-op."""
    now = now or now_utc()
    event_id = stored_key(feedback.event_id)
    known = session.exec(select(BounceEvent).where(BounceEvent.event_id == event_id)).first()
    if known is not None:
        return _processed(known, new=False)
    policy = Policy.from_settings(settings)
    match = match_feedback(session, settings, feedback)
    if match.subscriber is not None:
        match = replace(match, subscriber=_locked(session, match.subscriber.id or 0))
    sub = match.subscriber
    decision = policy.decide(feedback.kind, match.by, source, sub.state if sub else None)
    if decision.action is Action.COUNT_SOFT and sub is not None:
        decision = policy.soft_verdict(
            _soft_messages(session, sub.id or 0, now - policy.soft_window, match, feedback))
    new_state = {Action.BOUNCE: SubscriberState.BOUNCED,
                 Action.UNSUBSCRIBE: SubscriberState.UNSUBSCRIBED}.get(decision.action)
    row = _row(feedback, source, raw, now, match, decision, new_state)
    if _insert_new(session, E, row, "event_id") is None:  # recorded meanwhile elsewhere
        known = session.exec(select(BounceEvent).where(BounceEvent.event_id == event_id)).one()
        return _processed(known, new=False)
    if sub is not None and new_state is not None:
        subscriber_left(session, sub, new_state, decision.detail, now)
    return Processed(feedback.event_id, feedback.kind, decision.outcome,
                     sub.id if sub else None, match.delivery_id, new_state, decision.detail)


def record_problem(session: Session, source: FeedbackSource, raw: bytes, problem: str,
                   *, fingerprint: str = "", now: datetime | None = None) -> Processed:
    """Record a message a source could not hand over whole (too large) as held; `raw` is its
    start, `fingerprint` what tells it from another with the same start (`Incoming`)."""
    feedback = Feedback(FeedbackKind.UNKNOWN, "", diagnostic=problem[:500])
    told_apart = f":{hashlib.sha256(fingerprint.encode()).hexdigest()[:16]}" if fingerprint else ""
    event_id = stored_key(parse(raw)[0].event_id + ":partial" + told_apart)
    now = now or now_utc()
    decision = Decision(FeedbackOutcome.HELD, Action.NONE, "incomplete: held for a person")
    row = _row(feedback, source, raw, now, Match(), decision, None) | {"event_id": event_id}
    new = _insert_new(session, E, row, "event_id") is not None
    return Processed(event_id, FeedbackKind.UNKNOWN, FeedbackOutcome.HELD, None, None, None,
                     decision.detail, new)


def subscriber_left(session: Session, sub: Subscriber, state: SubscriberState, reason: str,
                    now: datetime) -> None:
    """Bounce or unsubscribe `sub` because of a report: their unsent messages are skipped."""
    # Delivery rows before the subscriber, the order a send's outcome writer locks them in.
    outbox.stop_mail(session, sub.id or 0, reason)
    sub.state, sub.updated_at = state, now
    session.add(sub)
    complaint = state is SubscriberState.UNSUBSCRIBED
    subscriber_events.record(
        session, sub, SubscriberAction.UNSUBSCRIBED if complaint else SubscriberAction.BOUNCED,
        "bounces", reason=ActionReason.COMPLAINT if complaint else ActionReason.BOUNCE_REPORT,
        detail=reason, at=now)


def match_feedback(session: Session, settings: Settings, feedback: Feedback) -> Match:
    """The delivery and subscriber a report names (see the module docstring for the order)."""
    if feedback.verp_tag:
        key = verp.derive_key(settings.signing_key())
        delivery_id = verp.read_tag(feedback.verp_tag, key)
        delivery = session.get(Delivery, delivery_id) if delivery_id is not None else None
        if delivery is not None:
            return _of(session, MatchedBy.VERP, delivery)
    if feedback.original_message_id:
        found = message_id_key(feedback.original_message_id, settings.sender_domain)
        delivery = session.exec(select(Delivery).where(
            Delivery.issue_id == found[0], Delivery.subscriber_id == found[1])).first() \
            if found else None
        if delivery is not None and delivery.message_id == feedback.original_message_id:
            return _of(session, MatchedBy.MESSAGE_ID, delivery)
    email = valid_or_none(feedback.recipient)
    if email is not None:
        sub = session.exec(select(Subscriber).where(Subscriber.email == email)).first()
        if sub is not None:
            latest = session.exec(select(Delivery).where(
                Delivery.subscriber_id == sub.id, Delivery.state == DeliveryState.SENT)
                .order_by(col(Delivery.sent_at).desc(), col(Delivery.id).desc())).first()
            return Match(MatchedBy.RECIPIENT, sub, latest.id if latest else None,
                         latest.issue_id if latest else None)
    return Match()


def stored_key(value: str) -> str:
    """`value` as the unique columns keep it (event ids, nonces: at most KEY_LENGTH
    characters). A longer one keeps its start and ends in its SHA-256, so that two values
    differ as stored exactly when they differ, and a lookup finds what an insert wrote."""
    if len(value) <= KEY_LENGTH:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{value[:KEY_LENGTH - len(digest) - 1]}#{digest}"


class Replayed(Exception):
    """A webhook request whose one-time value was used before."""


def process_verified(session: Session, settings: Settings, verified: Verified,
                     source: FeedbackSource, body: bytes, *, now: datetime) -> list[Processed]:
    """Record an authentic webhook request's reports (the body kept with the first one);
    raises `Replayed`, recording nothing, if its nonce was stored before."""
    if verified.nonce is not None and not claim_nonce(session, verified.nonce, now):
        raise Replayed(verified.nonce)
    return [process_feedback(session, settings, feedback, source,
                             raw=body if index == 0 else None, now=now)
            for index, feedback in enumerate(verified.feedback)]


def claim_nonce(session: Session, nonce: str, now: datetime) -> bool:
    """Store a webhook's one-time value; False if it was stored before (a replay)."""
    return _insert_new(session, N, {"nonce": stored_key(nonce), "received_at": now}, "nonce") \
        is not None


@dataclass(frozen=True)
class Purged:
    """What a purge removed."""

    raw: int
    nonces: int


def purge(session: Session, settings: Settings, *, now: datetime | None = None,
          held: bool = False) -> Purged:
    """Drop raw messages older than the retention (held ones only with `held`) and old
    webhook nonces; the records themselves stay."""
    now = now or now_utc()
    cutoff = now - Policy.from_settings(settings).raw_retention
    where = [E.c.raw.is_not(None), E.c.received_at < cutoff]
    if not held:  # a held message piped in from an MTA has no other copy
        where.append(E.c.outcome != FeedbackOutcome.HELD.value)
    raw = session.execute(sa.update(E).where(*where).values(raw=None))
    nonces = session.execute(sa.delete(N).where(N.c.received_at < now - NONCE_KEEP))
    return Purged(_rowcount(raw), _rowcount(nonces))


def recent(session: Session, outcome: FeedbackOutcome | None = None,
           limit: int = 20) -> list[BounceEvent]:
    """The latest records, newest first, without their raw messages."""
    query = select(BounceEvent).options(defer(BounceEvent.raw))  # type: ignore[arg-type]
    if outcome is not None:
        query = query.where(BounceEvent.outcome == outcome)
    return list(session.exec(query.order_by(col(BounceEvent.id).desc()).limit(limit)))


def raw_message(session: Session, record_id: int) -> bytes | None:
    """The raw message kept with a record (None: no such record, or purged)."""
    return session.execute(sa.select(E.c.raw).where(E.c.id == record_id)).scalar()


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded report about a subscriber, for people."""

    received_at: datetime
    kind: FeedbackKind
    source: FeedbackSource
    outcome: FeedbackOutcome
    status: str | None
    diagnostic: str | None
    detail: str
    new_state: SubscriberState | None
    issue: str | None  # the period of the issue it was about


def history_for(session: Session, subscriber_id: int) -> list[HistoryEntry]:
    """Every report recorded about a subscriber, oldest first."""
    query = (sa.select(E.c.received_at, E.c.kind, E.c.source, E.c.outcome, E.c.status,
                       E.c.diagnostic, E.c.detail, E.c.new_state, ISSUE.c.period)
             .select_from(E.outerjoin(ISSUE, ISSUE.c.id == E.c.issue_id))
             .where(E.c.subscriber_id == subscriber_id).order_by(E.c.received_at, E.c.id))
    return [HistoryEntry(at, kind, source, outcome, status, diagnostic, detail or "",
                         new_state, period)
            for at, kind, source, outcome, status, diagnostic, detail, new_state, period
            in session.execute(query)]


def left_because(session: Session, sub: Subscriber) -> HistoryEntry | None:
    """The report that put a subscriber in their present state, if one did."""
    return next((entry for entry in reversed(history_for(session, sub.id or 0))
                 if entry.new_state is sub.state), None)


@dataclass(frozen=True)
class IssueFeedback:
    """Bounces and complaints for one issue; each counts messages, not reports."""

    sent: int = 0
    refused: int = 0  # failed during the SMTP dialogue, or retried until the deadline
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    bounced: int = 0  # subscribers these reports bounced
    unsubscribed: int = 0  # subscribers these complaints unsubscribed

    @property
    def bounce_rate(self) -> float:
        """Hard bounces per message sent."""
        return self.hard / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        """Complaints per message sent (Gmail's line: 0.3%)."""
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def over_complaint_line(self) -> bool:
        """Whether complaints reached Gmail's and Yahoo's 0.3%."""
        return self.complaint_rate >= GMAIL_COMPLAINT_LINE


def issue_feedback(session: Session, issue_id: int) -> IssueFeedback:
    """What came back for an issue's messages (trusted reports only)."""
    states = dict(session.execute(sa.select(D.c.state, sa.func.count()).where(
        D.c.issue_id == issue_id).group_by(D.c.state)).all())
    message = sa.func.coalesce(sa.cast(E.c.delivery_id, sa.String), E.c.event_id)
    applied = [E.c.issue_id == issue_id, E.c.outcome == FeedbackOutcome.APPLIED.value]
    kinds = dict(session.execute(sa.select(E.c.kind, sa.func.count(message.distinct()))
                                 .where(*applied).group_by(E.c.kind)).all())
    changed = dict(session.execute(sa.select(E.c.new_state, sa.func.count())
                                   .where(*applied, E.c.new_state.is_not(None))
                                   .group_by(E.c.new_state)).all())
    return IssueFeedback(
        sent=states.get(DeliveryState.SENT, 0), refused=states.get(DeliveryState.FAILED, 0),
        hard=kinds.get(FeedbackKind.HARD, 0), soft=kinds.get(FeedbackKind.SOFT, 0),
        complaints=kinds.get(FeedbackKind.COMPLAINT, 0),
        bounced=changed.get(SubscriberState.BOUNCED, 0),
        unsubscribed=changed.get(SubscriberState.UNSUBSCRIBED, 0))


def _locked(session: Session, subscriber_id: int) -> Subscriber | None:
    """The subscriber as committed now, locked until the commit (PostgreSQL; SQLite's write
    transaction is the lock), so that the policy decides on the state an unsubscribe or
    erasure beside it committed. Their open outbox rows are locked first: the order a send's
    outcome writer and `subscriber_left` lock them in."""
    session.execute(sa.select(D.c.id).where(D.c.subscriber_id == subscriber_id,
                                            D.c.state.in_([s.value for s in outbox.OPEN_STATES]))
                    .with_for_update())
    return session.get(Subscriber, subscriber_id, with_for_update=True, populate_existing=True)


def _of(session: Session, by: MatchedBy, delivery: Delivery) -> Match:
    return Match(by, session.get(Subscriber, delivery.subscriber_id), delivery.id,
                 delivery.issue_id)


def _soft_messages(session: Session, subscriber_id: int, since: datetime, match: Match,
                   feedback: Feedback) -> int:
    """Distinct messages soft-bounced for a subscriber since `since`, this report's included.

    A message is its delivery row; a report that names none counts as a message of its own.
    """
    key = sa.func.coalesce(sa.cast(E.c.delivery_id, sa.String), E.c.event_id)
    found = set(session.execute(sa.select(key).distinct().where(
        E.c.subscriber_id == subscriber_id, E.c.kind == FeedbackKind.SOFT.value,
        E.c.outcome == FeedbackOutcome.APPLIED.value, E.c.received_at >= since)).scalars())
    found.add(str(match.delivery_id) if match.delivery_id is not None
              else stored_key(feedback.event_id))
    return len(found)


def _row(feedback: Feedback, source: FeedbackSource, raw: bytes | None, now: datetime,
         match: Match, decision: Decision, new_state: SubscriberState | None
         ) -> dict[str, object]:
    sub = match.subscriber
    # A report about an erased person keeps nothing of theirs (digest.audience.gdpr.PERSONAL).
    erased = sub is not None and sub.state is SubscriberState.ERASED
    return {
        "event_id": stored_key(feedback.event_id), "kind": feedback.kind, "source": source,
        "outcome": decision.outcome, "matched_by": match.by,
        "subscriber_id": sub.id if sub else None, "new_state": new_state,
        "delivery_id": match.delivery_id, "issue_id": match.issue_id,
        # In the form the store keeps addresses in, so that an erasure finds it by the address.
        "recipient": None if erased or not feedback.recipient
        else (valid_or_none(feedback.recipient) or feedback.recipient)[:320] or None,
        "status": (feedback.status or "")[:16] or None,
        "diagnostic": None if erased else feedback.diagnostic,
        "detail": decision.detail[:300], "received_at": now,
        "occurred_at": feedback.occurred_at, "raw": None if erased else raw,
    }


def _insert_new(session: Session, table: sa.Table, values: dict[str, object],
                unique: str) -> object | None:
    """INSERT ... ON CONFLICT (unique) DO NOTHING; the new row's key, or None if it existed."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    pk = next(iter(table.primary_key.columns))
    statement = insert(table).values(**values).on_conflict_do_nothing(
        index_elements=[unique]).returning(pk)
    return session.execute(statement).scalar_one_or_none()


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _processed(row: BounceEvent, *, new: bool) -> Processed:
    return Processed(row.event_id, row.kind, row.outcome, row.subscriber_id, row.delivery_id,
                     row.new_state, row.detail or "", new)
