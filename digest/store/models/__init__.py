"""The store's tables and state enums, one module per group; imported from here. No I/O."""

from __future__ import annotations

from digest.store.models.audience import (
    ClickCount,
    Consent,
    SubscriberEvent,
    Suppression,
)
from digest.store.models.bounces import (
    BounceEvent,
    WebhookNonce,
)
from digest.store.models.columns import (
    UTCDateTime,
    core_table,
    enum_col,
    now_utc,
    utc_col,
)
from digest.store.models.states import (
    ActionReason,
    ConsentSource,
    DeliveryState,
    FeedbackKind,
    FeedbackOutcome,
    FeedbackSource,
    IssueAction,
    IssueState,
    ItemKind,
    Language,
    MatchedBy,
    NewsKind,
    SubscriberAction,
    SubscriberState,
    ThrottleScope,
)
from digest.store.models.tables import (
    CONTENT_MODELS,
    Bilingual,
    ContentRow,
    Delivery,
    Issue,
    IssueEvent,
    IssueItem,
    IssueVariant,
    News,
    Review,
    Seminar,
    Subscriber,
)
from digest.store.models.web import (
    EditorSession,
    ThrottleHit,
)

__all__ = [
    "CONTENT_MODELS",
    "ActionReason",
    "Bilingual",
    "BounceEvent",
    "ClickCount",
    "Consent",
    "ConsentSource",
    "ContentRow",
    "Delivery",
    "DeliveryState",
    "EditorSession",
    "FeedbackKind",
    "FeedbackOutcome",
    "FeedbackSource",
    "Issue",
    "IssueAction",
    "IssueEvent",
    "IssueItem",
    "IssueState",
    "IssueVariant",
    "ItemKind",
    "Language",
    "MatchedBy",
    "News",
    "NewsKind",
    "Review",
    "Seminar",
    "Subscriber",
    "SubscriberAction",
    "SubscriberEvent",
    "SubscriberState",
    "Suppression",
    "ThrottleHit",
    "ThrottleScope",
    "UTCDateTime",
    "WebhookNonce",
    "core_table",
    "enum_col",
    "now_utc",
    "utc_col",
]
