"""Subscriber self-service: double opt-in, language choice, unsubscribe and resubscribe.

Each function takes a session and leaves the commit to its caller; the web layer is thin.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable

from sqlmodel import Session, select

from digest.audience import history, suppression
from digest.audience.csv_import import normalise_email
from digest.audience.keyed import Keyed
from digest.delivery import outbox
from digest.delivery.notices import send_notice
from digest.delivery.transports.base import Transport
from digest.i18n import translations
from digest.settings import Settings
from digest.store.models import (
    ActionReason,
    Language,
    Subscriber,
    SubscriberAction,
    SubscriberState,
    now_utc,
)
from digest.tokens import Purpose, Tokens


class Signup(enum.StrEnum):
    """What a sign-up request did (never shown as such: the page is the same for all)."""

    CONFIRMATION_SENT = "confirmation_sent"
    ALREADY_ACTIVE = "already_active"
    RATE_LIMITED = "rate_limited"


class SignupLimiter:
    """At most `limit` attempts per key in a sliding window (per process, in memory)."""

    def __init__(self, limit: int, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window_seconds, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._swept = clock()

    def __len__(self) -> int:
        """How many keys are remembered."""
        return len(self._hits)

    def allow(self, key: str) -> bool:
        """Record an attempt; False once the key has used up its window."""
        now = self.clock()
        with self._lock:
            if now - self._swept >= self.window:
                # Forget keys with no attempt in the window, so that many distinct addresses
                # (one each, say) cannot grow the table without bound; one pass per window.
                self._hits = {k: h for k, h in self._hits.items()
                              if h and h[-1] > now - self.window}
                self._swept = now
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


def page_language(language: Language) -> str:
    """The language a subscriber's pages and notices use (`both` reads Welsh first)."""
    return "en" if language is Language.EN else "cy"


def request(session: Session, settings: Settings, tokens: Tokens, transport: Transport,
            limiter: SignupLimiter, raw_email: str, name: str, language: Language,
            client_ip: str | None = None) -> Signup:
    """Handle a sign-up form; raises ValueError for an invalid address.

    The client IP is kept (hashed) in the consent record only with `settings.consent_ip`."""
    email = normalise_email(raw_email)
    if not limiter.allow(email):
        return Signup.RATE_LIMITED
    sub = session.exec(select(Subscriber).where(Subscriber.email == email)).first()
    lang = page_language(language)
    t = translations(lang)
    site = settings.site_url.rstrip("/")
    if sub is not None and sub.state is SubscriberState.ACTIVE:
        link = f"{site}/p/{tokens.make(Purpose.PREFERENCES, sub.id or 0)}"
        send_notice(settings, transport, email,
                     t.gettext("You are already subscribed"),
                     t.gettext("Someone (probably you) asked to subscribe this address, which "
                               "already receives the digest. Nothing has changed.") +
                     f"\n\n{t.gettext('Change language or preferences')}: {link}\n", lang=lang)
        return Signup.ALREADY_ACTIVE
    if sub is None:
        sub = Subscriber(email=email, name=name.strip()[:200], language=language,
                         state=SubscriberState.PENDING)
        session.add(sub)
    else:  # pending, unsubscribed or bounced: confirming the new request re-activates
        sub.name, sub.language, sub.updated_at = name.strip()[:200] or sub.name, language, now_utc()
    session.flush()
    keyed = Keyed(settings)
    history.signup_requested(session, sub, keyed.ip(client_ip)
                             if client_ip and settings.consent_ip else None)
    suppression.link_signup(session, keyed, email, sub.id or 0)
    link = f"{site}/confirm/{tokens.make_expiring(sub.id or 0)}"
    send_notice(settings, transport, email, t.gettext("Please confirm your subscription"),
                 t.gettext("Please confirm that you want to receive the monthly research "
                           "digest by opening this link:") + f"\n{link}\n\n" +
                 t.gettext("If you did not ask for this, ignore this message.") + "\n",
                lang=lang)
    return Signup.CONFIRMATION_SENT


def confirm(session: Session, subscriber_id: int) -> Subscriber:
    """Activate the subscriber of a valid confirmation token (idempotent)."""
    sub = session.get(Subscriber, subscriber_id)
    if sub is None:
        raise LookupError("no such subscriber")
    if sub.state is not SubscriberState.ACTIVE:
        sub.state, sub.updated_at = SubscriberState.ACTIVE, now_utc()
        history.confirmed(session, sub)
        suppression.lift_for(session, subscriber_id)
    return sub


def get(session: Session, subscriber_id: int) -> Subscriber:
    """The subscriber a token names (an erased one is gone: its tokens name nobody)."""
    sub = session.get(Subscriber, subscriber_id)
    if sub is None or sub.state is SubscriberState.ERASED:
        raise LookupError("no such subscriber")
    return sub


def set_language(session: Session, subscriber_id: int, language: Language, *,
                 actor: str = history.SUBSCRIBER,
                 reason: ActionReason = ActionReason.LINK) -> Subscriber:
    """Change the language a subscriber receives."""
    sub = get(session, subscriber_id)
    if sub.language is not language:
        sub.language, sub.updated_at = language, now_utc()
        history.record(session, sub, SubscriberAction.LANGUAGE_CHANGED, actor, reason=reason)
    return sub


def unsubscribe(session: Session, subscriber_id: int, *,
                reason: ActionReason = ActionReason.LINK,
                actor: str = history.SUBSCRIBER) -> Subscriber:
    """Stop all mail at once (idempotent): every message not yet sent to them is skipped,
    claimed ones included, once the caller commits (see `outbox.stop_mail`)."""
    sub = get(session, subscriber_id)
    # Delivery rows before the subscriber, the order a send's outcome writer locks them in.
    outbox.stop_mail(session, subscriber_id, "unsubscribed")
    if sub.state is not SubscriberState.UNSUBSCRIBED:
        sub.state, sub.updated_at = SubscriberState.UNSUBSCRIBED, now_utc()
        history.record(session, sub, SubscriberAction.UNSUBSCRIBED, actor, reason=reason)
    return sub


def resubscribe(session: Session, subscriber_id: int) -> Subscriber:
    """Undo an unsubscribe from the subscriber's own preferences link."""
    sub = get(session, subscriber_id)
    if sub.state is SubscriberState.UNSUBSCRIBED:
        sub.state, sub.updated_at = SubscriberState.ACTIVE, now_utc()
        history.record(session, sub, SubscriberAction.RESUBSCRIBED, history.SUBSCRIBER,
                       reason=ActionReason.LINK)
    return sub
