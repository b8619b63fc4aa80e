"""review, seminar, news: withdrawn_at, set while an item's file says `withdrawn: true`

Revision ID: 0011
Revises: 0010

A withdrawn item stays in the store (the issues that carry it point at it) but is no longer
chosen by planning, listed in a feed or shown on its page.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("review", "seminar", "news")


def upgrade() -> None:
    """Add withdrawn_at to each content table."""
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    """Drop it again."""
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("withdrawn_at")
