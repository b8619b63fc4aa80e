"""Alembic environment: uses the engine handed over by digest.store.db.upgrade."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import digest.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from digest.store.db import make_engine

config = context.config
engine = config.attributes.get("engine") or make_engine(
    config.get_main_option("sqlalchemy.url") or "sqlite:///var/digest.db")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
