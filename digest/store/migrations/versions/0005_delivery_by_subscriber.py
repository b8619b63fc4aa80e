"""delivery: index subscriber_id, so that an unsubscribe or a bounce finds its rows at once

Revision ID: 0005
Revises: 0004

Stopping a subscriber's mail marks their open delivery rows (every issue) skipped in the same
transaction as the unsubscribe: without this index that UPDATE reads the whole outbox.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ix_delivery_subscriber."""
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_subscriber", ["subscriber_id"], unique=False)


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_subscriber")
