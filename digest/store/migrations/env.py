"""Alembic environment: uses the engine handed over by digest.store.db.upgrade."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import digest.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from digest.store.db import make_engine

config = context.config
engine = config.attributes.get("engine") or make_engine(
    config.get_main_option("sqlalchemy.url") or "sqlite:///var/digest.db")

# Two processes migrating one PostgreSQL database at once (a scheduler and a web server
# started together after a deploy) would both create the same tables: one failed with
# "duplicate key value violates unique constraint pg_type_typname_nsp_index". Each takes
# this lock first, held until its migration commits; the second then finds the schema new.
MIGRATION_LOCK = 0x6469676573740001  # "digest", 1: pg_advisory_xact_lock's bigint key

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
