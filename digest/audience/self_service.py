"""Subscriber self-service: double opt-in, language choice, unsubscribe and resubscribe.

Each function takes a session and leaves the commit to its caller; the web layer is thin.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, select

from digest.audience import history, suppression, throttle
from digest.audience.csv_import import normalise_email
from digest.audience.keyed import Keyed
from digest.delivery import outbox
from digest.delivery.notices import send_notice
from digest.delivery.transports.base import Transport
from digest.i18n import translations
from digest.settings import Settings
from digest.store import subscriber_events
from digest.store.compiled import Compiled
from digest.store.models import (
    ActionReason,
    DeliveryState,
    Language,
    Subscriber,
    SubscriberAction,
    SubscriberState,
    ThrottleScope,
    UTCDateTime,
    core_table,
    now_utc,
)
from digest.text import one_line
from digest.tokens import Purpose, Tokens

S = core_table(Subscriber)
D = outbox.D


class Signup(enum.StrEnum):
    """What a sign-up request did (never shown as such: the page is the same for all)."""

    CONFIRMATION_SENT = "confirmation_sent"
    ALREADY_ACTIVE = "already_active"
    RATE_LIMITED = "rate_limited"


def page_language(language: Language) -> str:
    """The language a subscriber's pages and notices use (`both` reads Welsh first)."""
    return "en" if language is Language.EN else "cy"


@dataclass(frozen=True)
class Notice:
    """A message to send once the transaction that decided on it has committed."""

    to: str
    subject: str
    body: str
    lang: str

    def send(self, settings: Settings, transport: Transport) -> bool:
        """Hand the message to the relay; True if it was accepted."""
        return send_notice(settings, transport, self.to, self.subject, self.body,
                           lang=self.lang)


@dataclass(frozen=True)
class SignupResult:
    """What a sign-up did, how long to wait when throttled, and the message to send."""

    outcome: Signup
    retry_after: int | None = None
    notice: Notice | None = None


def signup_limits(settings: Settings) -> tuple[throttle.Limit, throttle.Limit, throttle.Limit]:
    """Sign-ups per email address, per client address and overall, each per hour."""
    hour = timedelta(hours=1)
    return (throttle.Limit(ThrottleScope.SIGNUP_ADDRESS, settings.signup_limit_per_hour, hour),
            throttle.Limit(ThrottleScope.SIGNUP_CLIENT, settings.signup_client_limit_per_hour,
                           hour),
            throttle.Limit(ThrottleScope.SIGNUP_TOTAL, settings.signup_total_limit_per_hour,
                           hour))


def clean_name(raw: str) -> str:
    """A display name on one line (digest.text): a control character or line separator
    becomes a space (it would break headers and PostgreSQL), a bidirectional control or a
    lone surrogate is dropped (it would disguise the name, or fail to encode)."""
    return one_line(raw).strip()[:200]


def request(session: Session, settings: Settings, tokens: Tokens, raw_email: str, name: str,
            language: Language, client: str, now: datetime,
            client_ip: str | None = None) -> SignupResult:
    """Handle a sign-up form (in a write transaction); raises ValueError for a bad address.

    `client` is who is asking, for the throttles (an IPv6 client by its /64); `client_ip`,
    the peer's own address, is kept (hashed) in the consent record only with
    `settings.consent_ip`. The confirmation message is returned, not sent: the caller sends
    it after the commit, so that no link can name a subscriber row that was rolled back.
    """
    email = normalise_email(raw_email)
    per_address, per_client, total = signup_limits(settings)
    wait, _ = throttle.take(session, [(per_address, throttle.digest_key(email)),
                                      (per_client, throttle.digest_key(client)),
                                      (total, "all")], now)
    if wait is not None:
        return SignupResult(Signup.RATE_LIMITED, retry_after=wait)
    name = clean_name(name)
    # Locked as `get(lock=True)` locks: a confirmation or unsubscribe beside it is waited for,
    # so that the request's history line records the state that one committed.
    sub = session.exec(select(Subscriber).where(Subscriber.email == email).with_for_update()
                       .execution_options(populate_existing=True)).first()
    lang = page_language(language)
    t = translations(lang)
    site = settings.site_url.rstrip("/")
    if sub is not None and sub.state is SubscriberState.ACTIVE:
        link = f"{site}/p/{tokens.make(Purpose.PREFERENCES, sub.id or 0)}"
        return SignupResult(Signup.ALREADY_ACTIVE, notice=Notice(
            email, t.gettext("You are already subscribed"),
            t.gettext("Someone (probably you) asked to subscribe this address, which "
                      "already receives the digest. Nothing has changed.") +
            f"\n\n{t.gettext('Change language or preferences')}: {link}\n", lang))
    if sub is None:
        sub = Subscriber(email=email, name=name, language=language,
                         state=SubscriberState.PENDING)
        session.add(sub)
    # A known address (pending, unsubscribed or bounced) is not changed by the request:
    # anyone may type it into the form. Confirming re-activates it, in the language asked for
    # (kept on the request's history line); its name stays the one its owner gave.
    session.flush()
    keyed = Keyed(settings)
    history.signup_requested(session, sub, keyed.ip(client_ip)
                             if client_ip and settings.consent_ip else None, language)
    suppression.link_signup(session, keyed, email, sub.id or 0)
    link = f"{site}/confirm/{tokens.make_expiring(sub.id or 0)}"
    return SignupResult(Signup.CONFIRMATION_SENT, notice=Notice(
        email, t.gettext("Please confirm your subscription"),
        t.gettext("Please confirm that you want to receive the monthly research "
                  "digest by opening this link:") + f"\n{link}\n\n" +
        t.gettext("If you did not ask for this, ignore this message.") + "\n", lang))


class StaleConfirmation(LookupError):
    """A confirmation link signed before its subscriber last left the list."""


def confirm(session: Session, subscriber_id: int, signed: datetime | None = None
            ) -> Subscriber:
    """Activate the subscriber of a valid confirmation token (idempotent; an erased
    subscriber's token names nobody). `signed` is when the token was made: a link from
    before the person unsubscribed or bounced no longer re-activates them (it would undo
    their unsubscribe); it raises StaleConfirmation and changes nothing. Only a sign-up made
    since, with its own link, does."""
    sub = get(session, subscriber_id, lock=True)
    if sub.state is SubscriberState.ACTIVE:
        return sub
    left = history.last_left(session, subscriber_id) if signed is not None else None
    # Tokens carry whole seconds: a link signed in the second the person left still works.
    if signed is not None and left is not None and signed < left.replace(microsecond=0):
        raise StaleConfirmation(f"link signed {signed:%Y-%m-%d %H:%M:%S}, before the "
                                f"subscriber left at {left:%Y-%m-%d %H:%M:%S}")
    sub.state, sub.updated_at = SubscriberState.ACTIVE, now_utc()
    history.confirmed(session, sub)
    suppression.lift_for(session, subscriber_id)
    return sub


def get(session: Session, subscriber_id: int, *, lock: bool = False) -> Subscriber:
    """The subscriber a token names (an erased one is gone: its tokens name nobody); with
    `lock`, read as committed now and kept from other writers until the caller commits."""
    # A change reads with `lock`, so that one running beside another (an unsubscribe, an
    # erasure) waits for it and decides on what it committed, instead of writing over it:
    # PostgreSQL's FOR UPDATE. SQLite renders none: its write transaction is the lock.
    sub = (session.get(Subscriber, subscriber_id, with_for_update=True, populate_existing=True)
           if lock else session.get(Subscriber, subscriber_id))
    if sub is None or sub.state is SubscriberState.ERASED:
        raise LookupError("no such subscriber")
    return sub


def set_language(session: Session, subscriber_id: int, language: Language, *,
                 actor: str = history.SUBSCRIBER,
                 reason: ActionReason = ActionReason.LINK) -> Subscriber:
    """Change the language a subscriber receives."""
    sub = get(session, subscriber_id, lock=True)
    if sub.language is not language:
        sub.language, sub.updated_at = language, now_utc()
        history.record(session, sub, SubscriberAction.LANGUAGE_CHANGED, actor, reason=reason)
    return sub


@dataclass(frozen=True)
class Left:
    """Who an unsubscribe named: what its page shows, and the language it is shown in."""

    email: str
    language: Language


def unsubscribe(session: Session, subscriber_id: int, *,
                reason: ActionReason = ActionReason.LINK,
                actor: str = history.SUBSCRIBER) -> Subscriber:
    """Stop all mail at once (idempotent): every message not yet sent to them is skipped,
    claimed ones included, once the caller commits (see `outbox.stop_mail`)."""
    if subscriber_id not in unsubscribe_many(session, [subscriber_id], reason, actor=actor):
        raise LookupError("no such subscriber")
    sub = session.get(Subscriber, subscriber_id, populate_existing=True)  # as it is now
    assert sub is not None
    return sub


def unsubscribe_many(session: Session, subscriber_ids: Sequence[int], reason: ActionReason,
                     *, actor: str = history.SUBSCRIBER) -> dict[int, Left]:
    """`unsubscribe` for many subscribers in a few statements (the one-click requests that
    share a transaction), one on PostgreSQL; those that exist and are not erased, by id."""
    session.flush()  # the ORM's pending changes first: the statements below bypass it
    ids, at = sorted(set(subscriber_ids)), now_utc()
    if session.get_bind().dialect.name == "postgresql":
        return _unsubscribe_in_one(session, ids, at, reason, actor)
    found = {int(r.id): Left(r.email, Language(r.language)) for r in session.execute(
        sa.select(S.c.id, S.c.email, S.c.language).where(
            S.c.id.in_(ids), _NOT_ERASED))}
    if not found:
        return found
    # Delivery rows before the subscribers, the order a send's outcome writer locks them in.
    session.execute(outbox.STOP_ROWS, [{"sid": sid, "reason": "unsubscribed"} for sid in found])
    # The state is tested in the UPDATE itself, so that of two unsubscribes running side by
    # side (PostgreSQL) only one changes the row and writes the history event.
    changed = session.execute(sa.update(S).where(_UNSUBSCRIBABLE, S.c.id.in_(list(found)))
                              .values(state=SubscriberState.UNSUBSCRIBED.value, updated_at=at)
                              .returning(S.c.id, S.c.language)).all()
    if changed:
        session.execute(subscriber_events.INSERT, [subscriber_events.event_row(
            int(r.id), SubscriberAction.UNSUBSCRIBED, SubscriberState.UNSUBSCRIBED,
            Language(r.language), at, actor, reason) for r in changed])
    return found


def _sql(value: str) -> sa.ColumnElement[Any]:
    """A constant written into the SQL (an enum's value: ours, never a user's input)."""
    return sa.literal_column(f"'{value}'")


_NOT_ERASED = S.c.state != _sql(SubscriberState.ERASED)  # an erased person's tokens name nobody
_UNSUBSCRIBABLE = S.c.state.not_in([_sql(SubscriberState.UNSUBSCRIBED),
                                    _sql(SubscriberState.ERASED)])


@functools.cache
def _unsubscribe_statement(dialect: sa.Dialect) -> Compiled:
    """PostgreSQL: the steps of `unsubscribe_many` as one statement, compiled once (built and
    compiled per call, they were most of a one-click request's database time), for the people
    in the array `ids`: the outbox rows skipped, then the subscribers changed, their events
    written, and the people read (in the snapshot the statement starts with).

    Lock order as in the steps and a send's bounce: the outbox rows first. `changed` reads a
    count of `stop` in its WHERE, which the server evaluates (an InitPlan) before it locks
    any subscriber row (`tests/audience/test_one_click.py` holds it).
    """
    ids = sa.bindparam("ids", type_=postgresql.ARRAY(sa.Integer()))
    stop = sa.update(D).where(
        D.c.subscriber_id == sa.any_(ids), D.c.state.in_([_sql(s) for s in outbox.OPEN_STATES])
    ).values(state=_sql(DeliveryState.SKIPPED), last_error=_sql("unsubscribed")).returning(
        D.c.id).cte("stop")
    at = sa.bindparam("at", type_=UTCDateTime())
    changed = sa.update(S).where(
        _UNSUBSCRIBABLE, S.c.id == sa.any_(ids),
        sa.select(sa.func.count()).select_from(stop).scalar_subquery() >= sa.literal_column("0")
    ).values(
        state=_sql(SubscriberState.UNSUBSCRIBED), updated_at=at).returning(
        S.c.id, S.c.language).cte("changed")
    E = subscriber_events.E
    written = sa.insert(E).from_select(
        ["subscriber_id", "language", "at", "action", "reason", "actor", "state"],
        sa.select(changed.c.id, changed.c.language, at,
                  _sql(SubscriberAction.UNSUBSCRIBED),
                  sa.bindparam("reason", type_=sa.String()),
                  sa.bindparam("actor", type_=sa.String()),
                  _sql(SubscriberState.UNSUBSCRIBED))
    ).cte("written")
    return Compiled(sa.select(S.c.id, S.c.email, S.c.language).where(
        S.c.id == sa.any_(ids), _NOT_ERASED).add_cte(
        stop, changed, written), dialect)


def _unsubscribe_in_one(session: Session, ids: list[int], at: datetime,
                        reason: ActionReason, actor: str) -> dict[int, Left]:
    """PostgreSQL's `unsubscribe_many`, in the caller's transaction."""
    connection = session.connection()
    compiled = _unsubscribe_statement(connection.dialect)
    [values] = compiled.parameters([{"ids": ids, "at": at, "reason": reason.value,
                                     "actor": actor[:200]}])
    return {int(r[0]): Left(r[1], Language(r[2]))
            for r in connection.exec_driver_sql(compiled.sql, values)}


def resubscribe(session: Session, subscriber_id: int) -> Subscriber:
    """Undo an unsubscribe from the subscriber's own preferences link."""
    sub = get(session, subscriber_id, lock=True)
    if sub.state is SubscriberState.UNSUBSCRIBED:
        sub.state, sub.updated_at = SubscriberState.ACTIVE, now_utc()
        history.record(session, sub, SubscriberAction.RESUBSCRIBED, history.SUBSCRIBER,
                       reason=ActionReason.LINK)
    return sub
