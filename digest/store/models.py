"""The store: SQLModel tables and the state enums. No I/O here."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


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


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as naive UTC (SQLite and PostgreSQL alike)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store as naive UTC; naive input is refused so no local time slips in."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Return aware UTC datetimes."""
        return None if value is None else value.replace(tzinfo=UTC)


def enum_col(
    enum_type: type[enum.Enum],
    *,
    index: bool = False,
    primary_key: bool = False,
    nullable: bool = False,
) -> Any:
    """A portable enum column stored as its string value (no native PG enum type)."""
    return sa.Column(
        sa.Enum(
            enum_type,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        nullable=nullable,
        index=index,
        primary_key=primary_key,
    )


def utc_col(*, nullable: bool = False, index: bool = False) -> Any:
    """A UTC timestamp column."""
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class Bilingual(SQLModel):
    """The columns every content kind has in both languages (a missing one is None)."""

    title_cy: str | None = None
    title_en: str | None = None
    teaser_cy: str | None = None
    teaser_en: str | None = None
    body_cy: str | None = Field(default=None, sa_type=sa.Text)
    body_en: str | None = Field(default=None, sa_type=sa.Text)


class Review(Bilingual, table=True):
    """A review of a research article, in Welsh and English."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
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
    updated_at: datetime = Field(default_factory=now_utc, sa_column=utc_col())


class Seminar(Bilingual, table=True):
    """A seminar or webinar, with its start in UTC."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
    published_at: datetime = Field(sa_column=utc_col())
    starts_at: datetime = Field(sa_column=utc_col(index=True))
    ends_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))
    presenters: list[dict[str, str]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    online: bool = False
    url: str | None = None
    location_cy: str | None = None
    location_en: str | None = None
    updated_at: datetime = Field(default_factory=now_utc, sa_column=utc_col())


class News(Bilingual, table=True):
    """A news item, resource or blog post."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
    kind: NewsKind = Field(sa_column=enum_col(NewsKind))
    published_at: datetime = Field(sa_column=utc_col(index=True))
    author: str | None = None
    url: str | None = None
    updated_at: datetime = Field(default_factory=now_utc, sa_column=utc_col())


class Subscriber(SQLModel, table=True):
    """A person on the list; `email` is stored normalised (lower-case)."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = ""
    language: Language = Field(sa_column=enum_col(Language))
    state: SubscriberState = Field(sa_column=enum_col(SubscriberState, index=True))
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


class IssueEvent(SQLModel, table=True):
    """One entry of an issue's history: who did what, when, and why."""

    __tablename__ = "issue_event"
    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True)
    at: datetime = Field(default_factory=now_utc, sa_column=utc_col())
    actor: str = Field(max_length=200)
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


class EditorSession(SQLModel, table=True):
    """A logged-in editor's session; the cookie holds a random id, this row its SHA-256."""

    __tablename__ = "editor_session"
    id: str = Field(primary_key=True, max_length=64)  # hex SHA-256 of the cookie's value
    editor: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=utc_col())
    last_seen_at: datetime = Field(sa_column=utc_col())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))


class ThrottleScope(enum.StrEnum):
    """What a throttle counts: login failures and sign-ups, by whom."""

    LOGIN_ACCOUNT = "login_account"  # per account name tried
    LOGIN_CLIENT = "login_client"  # per client address
    SIGNUP_ADDRESS = "signup_address"  # per email address signed up
    SIGNUP_CLIENT = "signup_client"  # per client address
    SIGNUP_TOTAL = "signup_total"  # all sign-ups together


class ThrottleHit(SQLModel, table=True):
    """One counted attempt; a throttle counts the rows of a key inside its window."""

    __tablename__ = "throttle_hit"
    __table_args__ = (sa.Index("ix_throttle_hit_scope_key_at", "scope", "key", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    scope: ThrottleScope = Field(sa_column=enum_col(ThrottleScope))
    key: str = Field(max_length=64)  # hex SHA-256 of the name or address (not kept in clear)
    at: datetime = Field(sa_column=utc_col(index=True))
