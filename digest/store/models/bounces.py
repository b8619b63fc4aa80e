"""The bounce and complaint records (digest.bounces)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from digest.store.models.columns import enum_col, utc_col
from digest.store.models.states import (
    FeedbackKind,
    FeedbackOutcome,
    FeedbackSource,
    MatchedBy,
    SubscriberState,
)

KEY_LENGTH = 200  # of `event_id` and `nonce`; bounces.service.stored_key fits longer ones


class BounceEvent(SQLModel, table=True):
    """One bounce, complaint or auto-reply as received, and what was done about it."""

    __tablename__ = "bounce_event"
    __table_args__ = (
        # the soft-bounce count and a subscriber's history
        sa.Index("ix_bounce_event_subscriber_kind", "subscriber_id", "kind", "received_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=KEY_LENGTH, unique=True)  # the same report twice is one row
    kind: FeedbackKind = Field(sa_column=enum_col(FeedbackKind))
    source: FeedbackSource = Field(sa_column=enum_col(FeedbackSource))
    outcome: FeedbackOutcome = Field(sa_column=enum_col(FeedbackOutcome))
    matched_by: MatchedBy | None = Field(default=None,
                                         sa_column=enum_col(MatchedBy, nullable=True))
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id")
    new_state: SubscriberState | None = Field(  # what this event made the subscriber, if it
        default=None, sa_column=enum_col(SubscriberState, nullable=True))  # changed their state
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id", index=True)
    issue_id: int | None = Field(default=None, foreign_key="issue.id", index=True)
    recipient: str | None = Field(default=None, max_length=320)
    status: str | None = Field(default=None, max_length=16)  # enhanced status, e.g. 5.1.1
    diagnostic: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    detail: str | None = Field(default=None, max_length=300)  # what the policy did and why
    received_at: datetime = Field(sa_column=utc_col(index=True))
    occurred_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    raw: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))  # purged


class WebhookNonce(SQLModel, table=True):
    """A provider's one-time value (Mailgun's token): stored once, a reuse is refused."""

    __tablename__ = "webhook_nonce"
    nonce: str = Field(max_length=KEY_LENGTH, primary_key=True)
    received_at: datetime = Field(sa_column=utc_col(index=True))
