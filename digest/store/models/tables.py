"""The core tables: content, subscribers, issues and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from digest.store.models.columns import ACTOR_LENGTH, enum_col, now_utc, utc_col
from digest.store.models.states import (
    DeliveryState,
    IssueAction,
    IssueState,
    ItemKind,
    Language,
    NewsKind,
    SubscriberState,
)


class Bilingual(SQLModel):
    """The columns every content kind has in both languages (a missing one is None)."""

    title_cy: str | None = None
    title_en: str | None = None
    teaser_cy: str | None = None
    teaser_en: str | None = None
    body_cy: str | None = Field(default=None, sa_type=sa.Text)
    body_en: str | None = Field(default=None, sa_type=sa.Text)


class ContentRow(Bilingual):
    """What every content kind has: its id, and the slug its files are named by (the sync key)."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)


class Review(ContentRow, table=True):
    """A review of a research article, in Welsh and English."""

    published_at: datetime = Field(sa_column=utc_col(index=True))
    reviewer: str
    authors: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    year: int | None = None
    article_title: str
    journal: str
    volume: str | None = None
    pages: str | None = None
    doi: str | None = None
    url: str | None = None
    withdrawn_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    updated_at: datetime = Field(default_factory=now_utc, sa_column=utc_col())


class Seminar(ContentRow, table=True):
    """A seminar or webinar, with its start in UTC."""

    published_at: datetime = Field(sa_column=utc_col())
    starts_at: datetime = Field(sa_column=utc_col(index=True))
    ends_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    presenters: list[dict[str, str]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    online: bool = False
    url: str | None = None
    location_cy: str | None = None
    location_en: str | None = None
    withdrawn_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    updated_at: datetime = Field(default_factory=now_utc, sa_column=utc_col())


class News(ContentRow, table=True):
    """A news item, resource or blog post."""

    kind: NewsKind = Field(sa_column=enum_col(NewsKind))
    published_at: datetime = Field(sa_column=utc_col(index=True))
    author: str | None = None
    url: str | None = None
    withdrawn_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    updated_at: datetime = Field(default_factory=now_utc, sa_column=utc_col())


# The table of each kind of item an issue carries.
CONTENT_MODELS: dict[ItemKind, type[ContentRow]] = {
    ItemKind.REVIEW: Review, ItemKind.SEMINAR: Seminar, ItemKind.NEWS: News}


class Subscriber(SQLModel, table=True):
    """A person on the list; `email` is stored normalised (lower-case)."""

    __table_args__ = (  # the subscribers list's filters, each in id order (digest.audience)
        # ...and the lookups by state alone (the send's audience, the counts): its first column.
        sa.Index("ix_subscriber_state_language_id", "state", "language", "id"),
        sa.Index("ix_subscriber_language_id", "language", "id"),
        sa.Index("ix_subscriber_name_lower", sa.text("lower(name)")),
    )
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = ""
    language: Language = Field(sa_column=enum_col(Language))
    state: SubscriberState = Field(sa_column=enum_col(SubscriberState))
    created_at: datetime = Field(default_factory=now_utc, sa_column=utc_col())
    updated_at: datetime = Field(default_factory=now_utc, sa_column=utc_col())


class Issue(SQLModel, table=True):
    """One monthly issue: its period, its cutoff and its state."""

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=7, unique=True)  # "YYYY-MM" in the editorial time zone
    cutoff_at: datetime = Field(sa_column=utc_col())  # reviews up to here are in this issue
    since_at: datetime = Field(sa_column=utc_col())  # ...and after here
    state: IssueState = Field(sa_column=enum_col(IssueState, index=True))
    created_at: datetime = Field(default_factory=now_utc, sa_column=utc_col())
    send_after: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    # The pre-send checks as they were when sending started (digest.issue.checks writes it).
    send_checks: dict[str, Any] | None = Field(default=None,
                                               sa_column=sa.Column(sa.JSON, nullable=True))
    # The last link check's results ({"at": ..., "results": [[url, ok, status], ...]}).
    link_check: dict[str, Any] | None = Field(default=None,
                                              sa_column=sa.Column(sa.JSON, nullable=True))


class IssueEvent(SQLModel, table=True):
    """One entry of an issue's history: who did what, when, and why."""

    __tablename__ = "issue_event"
    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True)
    at: datetime = Field(default_factory=now_utc, sa_column=utc_col())
    actor: str = Field(max_length=ACTOR_LENGTH)
    action: IssueAction = Field(sa_column=enum_col(IssueAction))
    detail: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class IssueItem(SQLModel, table=True):
    """An item frozen into an issue, in display order."""

    __tablename__ = "issue_item"
    issue_id: int = Field(foreign_key="issue.id", primary_key=True)
    kind: ItemKind = Field(sa_column=enum_col(ItemKind, primary_key=True))
    item_id: int = Field(primary_key=True)
    position: int


class IssueVariant(SQLModel, table=True):
    """One rendered variant of an issue, kept unchanged once sent (the archive)."""

    __tablename__ = "issue_variant"
    issue_id: int = Field(foreign_key="issue.id", primary_key=True)
    language: Language = Field(sa_column=enum_col(Language, primary_key=True))
    subject: str
    preheader: str
    html: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


class Delivery(SQLModel, table=True):
    """The outbox: one row per (issue, subscriber)."""

    __table_args__ = (
        sa.UniqueConstraint("issue_id", "subscriber_id", name="uq_delivery_issue_subscriber"),
        sa.Index("ix_delivery_issue_state_id", "issue_id", "state", "id"),  # claim order
        sa.Index("ix_delivery_subscriber", "subscriber_id"),  # an unsubscribe's open rows
    )
    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id")
    subscriber_id: int = Field(foreign_key="subscriber.id")
    state: DeliveryState = Field(sa_column=enum_col(DeliveryState))
    language: Language | None = Field(default=None, sa_column=enum_col(Language, nullable=True))
    attempts: int = 0
    message_id: str | None = None
    relay_reply: str | None = None
    last_error: str | None = None
    claimed_by: str | None = Field(default=None, max_length=40)  # the send run holding the claim
    claimed_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    first_attempt_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    next_attempt_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
