"""Core statements compiled once for a dialect, for hot paths that execute them many times
(a send's outcome writes, the one-click unsubscribe): SQLAlchemy's SQL and type conversions
without its per-call compile-cache work."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


class Compiled:
    """A Core statement compiled once for a dialect, with its parameters' type conversions."""

    def __init__(self, statement: sa.Update | sa.Insert | sa.Select[Any],
                 dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order = compiled.positiontup if compiled.positional else None
        # The dialect's own processors: a TypeDecorator's bind_processor() alone skips its
        # impl's (SQLite's DATETIME format), and times would be stored in two text formats.
        self.convert = {name: fn for name, bind in compiled.binds.items()
                        if (fn := bind.type.dialect_impl(dialect).bind_processor(dialect))
                        is not None}
        self._positions = None if self.order is None else [
            (name, self.convert.get(name)) for name in self.order]

    def parameters(self, rows: list[dict[str, Any]]) -> list[Any]:
        """Rows as the DBAPI takes them, converted: new dicts, or tuples for positional
        styles. `rows` are left as they were, so a caller may pass them again."""
        if self._positions is None:
            return [{**row, **{name: fn(row[name]) for name, fn in self.convert.items()}}
                    for row in rows]
        return [tuple(row[name] if fn is None else fn(row[name]) for name, fn in self._positions)
                for row in rows]
