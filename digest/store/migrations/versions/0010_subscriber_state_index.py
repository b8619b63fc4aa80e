"""subscriber: drop ix_subscriber_state, which (state, language, id) already serves

Revision ID: 0010
Revises: 0009

0007 added ix_subscriber_state_language_id, whose leading column answers every lookup by
state alone; the single-column index was kept up to date on every new subscriber and every
change of state (an unsubscribe, a bounce) for nothing.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Drop ix_subscriber_state."""
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_state")


def downgrade() -> None:
    """Create it again."""
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.create_index("ix_subscriber_state", ["state"], unique=False)
