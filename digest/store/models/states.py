"""Every state and kind the store records, as string enums (stored as their values)."""

from __future__ import annotations

import enum


class Language(enum.StrEnum):
    """A subscriber's choice; `both` receives the bilingual (Welsh-first) variant."""

    CY = "cy"
    EN = "en"
    BOTH = "both"


class SubscriberState(enum.StrEnum):
    """Where a subscriber is in their life on the list."""

    PENDING = "pending"  # signed up, not yet confirmed (double opt-in)
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    ERASED = "erased"  # personal data removed at the person's request (digest.audience.gdpr)


class IssueState(enum.StrEnum):
    """The lifecycle of one monthly issue."""

    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class IssueAction(enum.StrEnum):
    """What happened to an issue, for its history (who and when)."""

    PLANNED = "planned"
    SKIPPED = "skipped"
    REPLANNED = "replanned"
    APPROVED = "approved"
    FORCE_APPROVED = "force_approved"  # approved despite a failing translation check
    CANCELLED = "cancelled"
    REOPENED = "reopened"  # approved -> draft, to be replanned
    SEND_HELD = "send_held"  # the send job found withdrawn items: not started
    SEND_STARTED = "send_started"
    SENT = "sent"
    APPROVAL_MISSED = "approval_missed"
    EDITORS_NOTIFIED = "editors_notified"
    TEST_SENT = "test_sent"  # enums are stored as plain strings: new values need no migration


class DeliveryState(enum.StrEnum):
    """One (issue, subscriber) message; only `sent` after the relay accepted it."""

    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker, outcome not yet recorded
    RETRY = "retry"  # temporary failure, due again at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # permanent failure (5xx) or retry deadline passed
    SKIPPED = "skipped"  # subscriber left before their message went


class FeedbackKind(enum.StrEnum):
    """What a returned message or provider event says about one delivery."""

    HARD = "hard"  # permanent failure (5.x.x, "failed"): stop mailing the address at once
    SOFT = "soft"  # temporary failure (4.x.x, "delayed"): counted, bounced after N in M days
    COMPLAINT = "complaint"  # a feedback-loop report (ARF, provider complaint): unsubscribe
    AUTO_REPLY = "auto_reply"  # out-of-office, vacation, RFC 3834: ignored, never a bounce
    UNKNOWN = "unknown"  # could not be understood: kept for a person to look at


class FeedbackSource(enum.StrEnum):
    """Where a report came from."""

    SMTP = "smtp"  # refused during the SMTP dialogue
    MAILBOX = "mailbox"  # read from the bounce mailbox (IMAP)
    FILE = "file"  # `digest bounces process` (.eml, mbox, maildir, stdin)
    SES = "ses"
    POSTMARK = "postmark"
    MAILGUN = "mailgun"
    SENDGRID = "sendgrid"


class FeedbackOutcome(enum.StrEnum):
    """What became of one recorded report (digest/bounces/policy.py decides)."""

    APPLIED = "applied"  # matched and trusted: the policy ran (bounced, counted, unsubscribed)
    IGNORED = "ignored"  # an auto-reply: never counts
    UNMATCHED = "unmatched"  # no delivery or subscriber of ours, or not trusted (forgeable)
    HELD = "held"  # not understood: for a person to look at


class MatchedBy(enum.StrEnum):
    """How a report was tied to a delivery or subscriber, strongest first."""

    VERP = "verp"  # a VERP tag that verified
    MESSAGE_ID = "message_id"  # the Message-ID of a message we sent
    RECIPIENT = "recipient"  # only the address: trusted only from an authenticated webhook


class ItemKind(enum.StrEnum):
    """The kinds of content an issue carries."""

    REVIEW = "review"
    SEMINAR = "seminar"
    NEWS = "news"


class NewsKind(enum.StrEnum):
    """Sub-kinds of news items."""

    RESOURCE = "resource"
    BLOG = "blog"
    ARTICLE = "article"


class ConsentSource(enum.StrEnum):
    """On what basis an address is held."""

    IMPORT = "import"  # a CSV import: the file stands for their consent
    WEB = "web"  # a web sign-up confirmed by the person (double opt-in)
    LEGACY = "legacy"  # on the list before consent records were kept: unknown


class SubscriberAction(enum.StrEnum):
    """What happened to a subscriber, for their history."""

    SUBSCRIBED = "subscribed"  # imported (active), or asked on the web (pending)
    CONFIRMED = "confirmed"
    LANGUAGE_CHANGED = "language_changed"
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"
    BOUNCED = "bounced"
    ERASED = "erased"


class ActionReason(enum.StrEnum):
    """Why, or through what, an action happened."""

    IMPORT = "import"
    WEB = "web"
    LEGACY = "legacy"
    LINK = "link"  # the preferences or unsubscribe page
    ONE_CLICK = "one_click"  # RFC 8058 POST from the mail client
    COMPLAINT = "complaint"  # a feedback-loop report
    EDITOR = "editor"
    SMTP = "smtp"  # a permanent failure during the SMTP dialogue
    BOUNCE_REPORT = "bounce_report"  # a bounce read back later (mailbox, file or webhook)


class ThrottleScope(enum.StrEnum):
    """What a throttle counts: login failures and sign-ups, by whom."""

    LOGIN_ACCOUNT = "login_account"  # per account name tried
    LOGIN_CLIENT = "login_client"  # per client address
    SIGNUP_ADDRESS = "signup_address"  # per email address signed up
    SIGNUP_CLIENT = "signup_client"  # per client address
    SIGNUP_TOTAL = "signup_total"  # all sign-ups together
