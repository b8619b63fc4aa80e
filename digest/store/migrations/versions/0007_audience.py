"""audience: consent records, subscriber history, suppression list, click counts, subscriber indexes

Revision ID: 0007
Revises: 0006

Every subscriber already on the list gets a consent record with source `legacy` (unknown:
held before consent was recorded) at their created_at, and a history that says the same:
`subscribed` (legacy) at created_at and, for those who have left, `unsubscribed` or
`bounced` at updated_at (the best time known).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Enum(*values, name=name, native_enum=False, length=16),
                     nullable=nullable)


STATES = ("pending", "active", "unsubscribed", "bounced", "erased")
LANGUAGES = ("cy", "en", "both")


def upgrade() -> None:
    """Create the audience tables and indexes, and backfill consent and history."""
    op.create_table(
        "consent",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Enum("import", "web", "legacy", name="consentsource",
                                    native_enum=False, length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("import_file", sa.String(length=500), nullable=True),
        sa.Column("import_line", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("ip_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.PrimaryKeyConstraint("subscriber_id"),
    )
    op.create_table(
        "subscriber_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("action", sa.Enum("subscribed", "confirmed", "language_changed",
                                    "unsubscribed", "resubscribed", "bounced", "erased",
                                    name="subscriberaction", native_enum=False, length=16),
                  nullable=False),
        sa.Column("reason", sa.Enum("import", "web", "legacy", "link", "one_click",
                                    "complaint", "editor", "smtp", name="actionreason",
                                    native_enum=False, length=16), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("state", sa.Enum(*STATES, name="subscriberstate", native_enum=False,
                                   length=16), nullable=False),
        sa.Column("language", sa.Enum(*LANGUAGES, name="language", native_enum=False,
                                      length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("ip_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subscriber_event", schema=None) as batch_op:
        batch_op.create_index("ix_subscriber_event_subscriber_at", ["subscriber_id", "at"])
        batch_op.create_index("ix_subscriber_event_action_at", ["action", "at"])
    op.create_table(
        "suppression",
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("signup_subscriber_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["signup_subscriber_id"], ["subscriber.id"]),
        sa.PrimaryKeyConstraint("address_hash"),
    )
    op.create_table(
        "click_count",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("language", sa.Enum(*LANGUAGES, name="language", native_enum=False,
                                      length=16), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("ignored", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issue.id"]),
        sa.PrimaryKeyConstraint("issue_id", "position", "language"),
    )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.create_index("ix_subscriber_state_language_id", ["state", "language", "id"])
        batch_op.create_index("ix_subscriber_language_id", ["language", "id"])
        batch_op.create_index("ix_subscriber_name_lower", [sa.text("lower(name)")])

    op.execute("INSERT INTO consent (subscriber_id, source, at) "
               "SELECT id, 'legacy', created_at FROM subscriber")
    op.execute("INSERT INTO subscriber_event (subscriber_id, at, action, reason, actor, state, "
               "language) SELECT id, created_at, 'subscribed', 'legacy', 'migration', "
               "CASE WHEN state = 'pending' THEN 'pending' ELSE 'active' END, language "
               "FROM subscriber")
    op.execute("INSERT INTO subscriber_event (subscriber_id, at, action, reason, actor, state, "
               "language) SELECT id, updated_at, state, 'legacy', 'migration', state, language "
               "FROM subscriber WHERE state IN ('unsubscribed', 'bounced')")


def downgrade() -> None:
    """Drop what upgrade made (the consent records and history are lost)."""
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_name_lower")
        batch_op.drop_index("ix_subscriber_language_id")
        batch_op.drop_index("ix_subscriber_state_language_id")
    op.drop_table("click_count")
    op.drop_table("suppression")
    with op.batch_alter_table("subscriber_event", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_event_action_at")
        batch_op.drop_index("ix_subscriber_event_subscriber_at")
    op.drop_table("subscriber_event")
    op.drop_table("consent")
