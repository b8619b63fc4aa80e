"""delivery: index (issue_id, state, id) so claims read due rows in id order

Revision ID: 0004
Revises: 0003

SQLite's (issue_id, state) index already ends in the rowid; PostgreSQL's does not, so a
claim's ORDER BY id LIMIT n sorted every pending row of the issue (O(outbox) per claim).
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Replace ix_delivery_issue_state with an index that also orders by id."""
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_issue_state_id", ["issue_id", "state", "id"],
                              unique=False)
        batch_op.drop_index("ix_delivery_issue_state")


def downgrade() -> None:
    """Put the two-column index back."""
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_issue_state", ["issue_id", "state"], unique=False)
        batch_op.drop_index("ix_delivery_issue_state_id")
