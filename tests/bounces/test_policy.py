"""The policy's rules, one decision at a time (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from digest.bounces.policy import Action, Policy
from digest.settings import Settings
from digest.store.models import (
    FeedbackKind,
    FeedbackOutcome,
    FeedbackSource,
    MatchedBy,
    SubscriberState,
)

K, R, A, S = FeedbackKind, FeedbackOutcome, Action, SubscriberState
MAIL, HOOK = FeedbackSource.MAILBOX, FeedbackSource.SES
VERP = Policy(verp=True)


@pytest.mark.parametrize(("policy", "by", "source", "trusted"), [
    (VERP, MatchedBy.VERP, MAIL, True),
    (VERP, MatchedBy.MESSAGE_ID, MAIL, False),  # guessable, and VERP would have tagged it
    (Policy(verp=False), MatchedBy.MESSAGE_ID, MAIL, True),  # the best evidence there is
    (Policy(verp=False), MatchedBy.RECIPIENT, MAIL, False),
    (VERP, MatchedBy.RECIPIENT, FeedbackSource.FILE, False),
    (VERP, MatchedBy.RECIPIENT, HOOK, True),
    (VERP, MatchedBy.RECIPIENT, FeedbackSource.POSTMARK, True),
    (VERP, None, HOOK, False),
])
def test_trust(policy: Policy, by: MatchedBy | None, source: FeedbackSource,
               trusted: bool) -> None:
    assert policy.trusted(by, source) is trusted


@pytest.mark.parametrize(("kind", "state", "outcome", "action"), [
    (K.HARD, S.ACTIVE, R.APPLIED, A.BOUNCE),
    (K.HARD, S.PENDING, R.APPLIED, A.BOUNCE),
    (K.HARD, S.UNSUBSCRIBED, R.APPLIED, A.NONE),  # never turns an unsubscribe into a bounce
    (K.HARD, S.BOUNCED, R.APPLIED, A.NONE),
    (K.SOFT, S.ACTIVE, R.APPLIED, A.COUNT_SOFT),
    (K.SOFT, S.BOUNCED, R.APPLIED, A.NONE),
    (K.COMPLAINT, S.ACTIVE, R.APPLIED, A.UNSUBSCRIBE),
    (K.COMPLAINT, S.BOUNCED, R.APPLIED, A.UNSUBSCRIBE),
    (K.COMPLAINT, S.UNSUBSCRIBED, R.APPLIED, A.NONE),
    (K.AUTO_REPLY, S.ACTIVE, R.IGNORED, A.NONE),
    (K.UNKNOWN, S.ACTIVE, R.HELD, A.NONE),
])
def test_trusted_reports(kind: FeedbackKind, state: SubscriberState, outcome: FeedbackOutcome,
                         action: Action) -> None:
    decision = VERP.decide(kind, MatchedBy.VERP, MAIL, state)
    assert (decision.outcome, decision.action) == (outcome, action)


@pytest.mark.parametrize("kind", [K.HARD, K.SOFT, K.COMPLAINT])
def test_untrusted_or_unmatched_reports_change_nobody(kind: FeedbackKind) -> None:
    untrusted = VERP.decide(kind, MatchedBy.RECIPIENT, MAIL, S.ACTIVE)
    nobody = VERP.decide(kind, None, MAIL, None)
    assert (untrusted.outcome, untrusted.action) == (R.UNMATCHED, A.NONE)
    assert untrusted.detail == "not trusted: matched by the address alone; left for a person"
    assert (nobody.outcome, nobody.action) == (R.UNMATCHED, A.NONE)


def test_auto_replies_and_unknowns_are_decided_before_matching() -> None:
    assert VERP.decide(K.AUTO_REPLY, None, MAIL, None).outcome is R.IGNORED
    assert VERP.decide(K.UNKNOWN, None, MAIL, None).outcome is R.HELD


def test_soft_verdict_bounces_at_the_limit() -> None:
    policy = Policy(soft_limit=3, soft_window=timedelta(days=30))
    assert policy.soft_verdict(2).action is A.NONE
    assert policy.soft_verdict(2).detail == "soft bounce: 2 of 3 messages in 30 days"
    assert policy.soft_verdict(3).action is A.BOUNCE
    assert policy.soft_verdict(4).detail.endswith(": bounced")


def test_from_settings(settings: Settings) -> None:
    assert Policy.from_settings(settings) == Policy(3, timedelta(days=30), timedelta(days=30),
                                                    verp=False)
    tuned = settings.model_copy(update={"soft_bounce_limit": 5, "soft_bounce_days": 7.5,
                                        "bounce_raw_retention_days": 0,
                                        "bounce_address": "b@example.org"})
    assert Policy.from_settings(tuned) == Policy(5, timedelta(days=7.5), timedelta(0),
                                                 verp=True)
