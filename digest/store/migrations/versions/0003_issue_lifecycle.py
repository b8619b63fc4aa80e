"""issue lifecycle: send_after on issues and the issue_event history

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIONS = ("planned", "skipped", "replanned", "approved", "force_approved", "cancelled",
           "send_started", "sent", "approval_missed", "editors_notified")


def upgrade() -> None:
    """Add issue.send_after and the issue_event table."""
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_after", sa.DateTime(), nullable=True))
    op.create_table(
        "issue_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.Enum(*ACTIONS, name="issueaction", native_enum=False,
                                    length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["issue_id"], ["issue.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("issue_event", schema=None) as batch_op:
        batch_op.create_index("ix_issue_event_issue_id", ["issue_id"], unique=False)


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("issue_event")
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.drop_column("send_after")
