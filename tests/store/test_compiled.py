"""Compiled statements: the dialect's conversions applied, the caller's rows left alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from digest.store.compiled import Compiled
from digest.store.models import UTCDateTime

T = sa.table("t", sa.column("id", sa.Integer()), sa.column("at", UTCDateTime()))
STATEMENT = sa.update(T).where(T.c.id == sa.bindparam("row_id")).values(
    at=sa.bindparam("at", type_=UTCDateTime()))
AT = datetime(2026, 9, 1, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize("url", ["sqlite://", "postgresql+psycopg://"])
def test_parameters_convert_without_changing_the_rows(url: str) -> None:
    """The same rows passed twice give the same parameters: the first call changed nothing."""
    compiled = Compiled(STATEMENT, sa.create_engine(url).dialect)  # connects to nothing
    rows = [{"row_id": 1, "at": AT}, {"row_id": 2, "at": AT}]
    first = compiled.parameters(rows)
    assert rows == [{"row_id": 1, "at": AT}, {"row_id": 2, "at": AT}]
    assert compiled.parameters(rows) == first


def test_sqlite_parameters_are_positional_and_in_the_dialects_format() -> None:
    """SQLite takes tuples in the statement's order, times as the dialect's DATETIME text."""
    compiled = Compiled(STATEMENT, sa.create_engine("sqlite://").dialect)
    [params] = compiled.parameters([{"row_id": 7, "at": AT}])
    assert params == ("2026-09-01 12:30:00.000000", 7)  # UTC, as every stored time
    assert compiled.sql.count("?") == 2
