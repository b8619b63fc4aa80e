"""Portable column types: UTC timestamps and enums stored as strings, on both databases."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

ACTOR_LENGTH = 200  # of every history's `actor` (issue events, subscriber events)


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


def core_table(model: type[Any]) -> sa.Table:
    """A model's Core table, typed (SQLModel leaves `__table__` untyped), for Core statements."""
    found = model.__table__
    assert isinstance(found, sa.Table)
    return found
