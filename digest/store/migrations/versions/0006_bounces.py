"""bounces: the bounce_event record of every report, and webhook nonces

Revision ID: 0006
Revises: 0005

The enum values are written out here (not taken from the models) so that the migration stays
what it was when later versions add values; enums are strings, so new values need none.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("hard", "soft", "complaint", "auto_reply", "unknown")
SOURCES = ("smtp", "mailbox", "file", "ses", "postmark", "mailgun", "sendgrid")
OUTCOMES = ("applied", "ignored", "unmatched", "held")
MATCHES = ("verp", "message_id", "recipient")
STATES = ("pending", "active", "unsubscribed", "bounced")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def upgrade() -> None:
    """Create bounce_event and webhook_nonce."""
    op.create_table(
        "bounce_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("kind", _enum(KINDS, "feedbackkind"), nullable=False),
        sa.Column("source", _enum(SOURCES, "feedbacksource"), nullable=False),
        sa.Column("outcome", _enum(OUTCOMES, "feedbackoutcome"), nullable=False),
        sa.Column("matched_by", _enum(MATCHES, "matchedby"), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("new_state", _enum(STATES, "subscriberstate"), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("diagnostic", sa.Text(), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"]),
        sa.ForeignKeyConstraint(["issue_id"], ["issue.id"]),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("bounce_event", schema=None) as batch_op:
        batch_op.create_index("ix_bounce_event_delivery_id", ["delivery_id"], unique=False)
        batch_op.create_index("ix_bounce_event_issue_id", ["issue_id"], unique=False)
        batch_op.create_index("ix_bounce_event_received_at", ["received_at"], unique=False)
        batch_op.create_index("ix_bounce_event_subscriber_kind",
                              ["subscriber_id", "kind", "received_at"], unique=False)
    op.create_table(
        "webhook_nonce",
        sa.Column("nonce", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("webhook_nonce", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_nonce_received_at", ["received_at"], unique=False)


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("webhook_nonce")
    op.drop_table("bounce_event")
