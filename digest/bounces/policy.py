"""Every bounce rule in one place: what one report does, given how it matched and whom.

Pure: no database, no clock. `digest.bounces.service` matches a report, asks `decide`, and
carries out the answer.

- AUTO_REPLY is recorded as ignored and never counts.
- UNKNOWN is held for a person.
- A report that matches none of our deliveries or subscribers is unmatched.
- A report may change a subscriber only if it is *trusted* (`trusted`): its VERP tag verified,
  or it came from a provider webhook whose signature or credentials verified, or it names the
  Message-ID of a message we sent *and no VERP address is configured*. Message-IDs are
  `<digest.ISSUE.SUBSCRIBER@domain>`, so anyone who has seen one issue can write the others;
  once VERP is on, every genuine bounce and feedback-loop report carries a tag (the DSN is
  addressed to it, an ARF report quotes the original's Return-Path), and a report without one
  is left to a person. A report matched only by its address is never trusted from mail:
  anyone can send a "bounce" naming someone else's address. Untrusted reports are unmatched.
- HARD: the subscriber is bounced at once.
- SOFT: counted per message, not per report (a deferred message is reported on every retry);
  the subscriber is bounced once `soft_limit` distinct messages soft-bounced within
  `soft_window`.
- COMPLAINT: unsubscribed at once (reason: complaint). Imports never re-activate an
  unsubscribed or bounced subscriber (digest.audience.csv_import).
- A subscriber who has already left stays as they are, except that a complaint turns a
  bounced subscriber into an unsubscribed one (the stronger, and the person's own, signal);
  nothing turns an unsubscribe into a bounce.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from digest.settings import Settings
from digest.store.models import (
    FeedbackKind,
    FeedbackOutcome,
    FeedbackSource,
    MatchedBy,
    SubscriberState,
)

# Sources whose reports were authenticated (a signature or credential checked) before parsing.
AUTHENTICATED = frozenset({FeedbackSource.SES, FeedbackSource.POSTMARK, FeedbackSource.MAILGUN,
                           FeedbackSource.SENDGRID})
GMAIL_COMPLAINT_LINE = 0.003  # Gmail and Yahoo: keep spam complaints below 0.3%
_LEFT = (SubscriberState.UNSUBSCRIBED, SubscriberState.BOUNCED)


class Action(enum.StrEnum):
    """What the service does after recording a report."""

    NONE = "none"
    BOUNCE = "bounce"
    UNSUBSCRIBE = "unsubscribe"
    COUNT_SOFT = "count_soft"  # bounce if this makes `soft_limit` messages in the window


@dataclass(frozen=True)
class Decision:
    """The outcome to record, the action to take, and a line saying why."""

    outcome: FeedbackOutcome
    action: Action
    detail: str


@dataclass(frozen=True)
class Policy:
    """The configurable part of the rules."""

    soft_limit: int = 3
    soft_window: timedelta = timedelta(days=30)
    raw_retention: timedelta = timedelta(days=30)
    verp: bool = False  # DIGEST_BOUNCE_ADDRESS is set

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The policy the settings ask for."""
        return cls(soft_limit=settings.soft_bounce_limit,
                   soft_window=timedelta(days=settings.soft_bounce_days),
                   raw_retention=timedelta(days=settings.bounce_raw_retention_days),
                   verp=bool(settings.bounce_address))

    def trusted(self, matched_by: MatchedBy | None, source: FeedbackSource) -> bool:
        """Whether a report matched this way, from this source, may change a subscriber."""
        if matched_by is None:
            return False
        if source in AUTHENTICATED or matched_by is MatchedBy.VERP:
            return True
        return matched_by is MatchedBy.MESSAGE_ID and not self.verp

    def decide(self, kind: FeedbackKind, matched_by: MatchedBy | None,
               source: FeedbackSource, state: SubscriberState | None) -> Decision:
        """The decision for one report about a subscriber now in `state` (None: nobody)."""
        if kind is FeedbackKind.AUTO_REPLY:
            return Decision(FeedbackOutcome.IGNORED, Action.NONE, "auto-reply: ignored")
        if kind is FeedbackKind.UNKNOWN:
            return Decision(FeedbackOutcome.HELD, Action.NONE,
                            "not understood: held for a person")
        if matched_by is None or state is None:
            return Decision(FeedbackOutcome.UNMATCHED, Action.NONE,
                            "no delivery or subscriber of ours matches")
        if not self.trusted(matched_by, source):
            why = ("a Message-ID alone (VERP is on, and this report has no valid tag)"
                   if matched_by is MatchedBy.MESSAGE_ID else "the address alone")
            return Decision(FeedbackOutcome.UNMATCHED, Action.NONE,
                            f"not trusted: matched by {why}; left for a person")
        if state is SubscriberState.ERASED:  # their kept outbox rows still match a late report
            return Decision(FeedbackOutcome.APPLIED, Action.NONE,
                            f"{kind.value}: the subscriber was erased")
        if kind is FeedbackKind.COMPLAINT:
            if state is SubscriberState.UNSUBSCRIBED:
                return Decision(FeedbackOutcome.APPLIED, Action.NONE,
                                "complaint: already unsubscribed")
            return Decision(FeedbackOutcome.APPLIED, Action.UNSUBSCRIBE,
                            "complaint: unsubscribed")
        if state in _LEFT:
            return Decision(FeedbackOutcome.APPLIED, Action.NONE,
                            f"{kind.value} bounce: already {state.value}")
        if kind is FeedbackKind.HARD:
            return Decision(FeedbackOutcome.APPLIED, Action.BOUNCE, "hard bounce: bounced")
        return Decision(FeedbackOutcome.APPLIED, Action.COUNT_SOFT, "soft bounce")

    def soft_verdict(self, messages: int) -> Decision:
        """The decision once a soft bounce makes `messages` distinct messages in the window."""
        days = self.soft_window / timedelta(days=1)
        counted = f"soft bounce: {messages} of {self.soft_limit} messages in {days:g} days"
        if messages >= self.soft_limit:
            return Decision(FeedbackOutcome.APPLIED, Action.BOUNCE, counted + ": bounced")
        return Decision(FeedbackOutcome.APPLIED, Action.NONE, counted)
