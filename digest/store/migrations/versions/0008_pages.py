"""pages: the checks as they were when sending started, and the last link check

Revision ID: 0008
Revises: 0007

Both JSON, on the issue: the editor's page shows a sent issue's checks from the first, and
the link check's results, once requested, from the second.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add issue.send_checks and issue.link_check."""
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_checks", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("link_check", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.drop_column("link_check")
        batch_op.drop_column("send_checks")
