"""The web's records: editors' server-side sessions and the throttles' counted attempts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from digest.store.models.columns import enum_col, utc_col
from digest.store.models.states import ThrottleScope


class EditorSession(SQLModel, table=True):
    """A logged-in editor's session; the cookie holds a random id, this row its SHA-256."""

    __tablename__ = "editor_session"
    id: str = Field(primary_key=True, max_length=64)  # hex SHA-256 of the cookie's value
    editor: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=utc_col())
    last_seen_at: datetime = Field(sa_column=utc_col())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_col(nullable=True))


class ThrottleHit(SQLModel, table=True):
    """One counted attempt; a throttle counts the rows of a key inside its window."""

    __tablename__ = "throttle_hit"
    __table_args__ = (sa.Index("ix_throttle_hit_scope_key_at", "scope", "key", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    scope: ThrottleScope = Field(sa_column=enum_col(ThrottleScope))
    key: str = Field(max_length=64)  # hex SHA-256 of the name or address (not kept in clear)
    at: datetime = Field(sa_column=utc_col(index=True))
