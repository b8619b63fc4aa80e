"""web security: server-side editor sessions and database-backed throttles

Revision ID: 0009
Revises: 0008

editor_session replaces the signed session cookie (which could not be revoked at logout);
throttle_hit counts login failures and sign-ups across restarts and server processes.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPES = ("login_account", "login_client", "signup_address", "signup_client", "signup_total")


def upgrade() -> None:
    """Create editor_session and throttle_hit."""
    op.create_table(
        "editor_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("editor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "throttle_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.Enum(*SCOPES, name="throttlescope", native_enum=False,
                                   length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("throttle_hit", schema=None) as batch_op:
        batch_op.create_index("ix_throttle_hit_at", ["at"], unique=False)
        batch_op.create_index("ix_throttle_hit_scope_key_at", ["scope", "key", "at"],
                              unique=False)


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("throttle_hit")
    op.drop_table("editor_session")
