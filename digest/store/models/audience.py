"""The audience records: consent, subscriber history, suppression list, click counts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from digest.store.models.columns import ACTOR_LENGTH, enum_col, now_utc, utc_col
from digest.store.models.states import (
    ActionReason,
    ConsentSource,
    Language,
    SubscriberAction,
    SubscriberState,
)


class Consent(SQLModel, table=True):
    """Why we hold a subscriber's address: one record per subscriber (the latest basis)."""

    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True)
    source: ConsentSource = Field(sa_column=enum_col(ConsentSource))
    at: datetime = Field(sa_column=utc_col())  # import time, confirmation, or legacy created_at
    import_file: str | None = Field(default=None, max_length=500)
    import_line: int | None = None
    requested_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    confirmed_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    ip_hash: str | None = Field(default=None, max_length=64)  # only with DIGEST_CONSENT_IP


class SubscriberEvent(SQLModel, table=True):
    """One entry of a subscriber's history, with their state and language after it."""

    __tablename__ = "subscriber_event"
    __table_args__ = (
        sa.Index("ix_subscriber_event_subscriber_at", "subscriber_id", "at"),
        sa.Index("ix_subscriber_event_action_at", "action", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id")
    at: datetime = Field(default_factory=now_utc, sa_column=utc_col())
    action: SubscriberAction = Field(sa_column=enum_col(SubscriberAction))
    reason: ActionReason | None = Field(default=None,
                                        sa_column=enum_col(ActionReason, nullable=True))
    actor: str = Field(max_length=ACTOR_LENGTH)
    state: SubscriberState = Field(sa_column=enum_col(SubscriberState))
    language: Language = Field(sa_column=enum_col(Language))
    detail: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    ip_hash: str | None = Field(default=None, max_length=64)


class Suppression(SQLModel, table=True):
    """An erased address, as a keyed hash: imports of it are refused."""

    address_hash: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(default_factory=now_utc, sa_column=utc_col())
    # A web sign-up by the person links its pending subscriber here; confirming it lifts this.
    signup_subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id")


class ClickCount(SQLModel, table=True):
    """Clicks on one item of one issue in one language; no subscriber identity at all."""

    __tablename__ = "click_count"
    issue_id: int = Field(foreign_key="issue.id", primary_key=True)
    position: int = Field(primary_key=True)  # the item's IssueItem.position
    language: Language = Field(sa_column=enum_col(Language, primary_key=True))
    clicks: int = 0
    ignored: int = 0  # requests the scanner rule left out (digest.audience.engagement)
