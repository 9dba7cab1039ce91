"""subscriptions: subscriptions to attribute changes and their outbox

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 09:10:00.000000

``subscriptions`` holds a case system's subscription (purpose, agreement, attributes, its
population and where events go, its webhook secret sealed); ``subscription_subjects`` the
subjects it names, by keyed pseudonym; ``subscription_watermarks`` how far each resource's change
stream has been read for it; ``subscription_events`` the outbox, one sealed event per row,
numbered per subscription, with its delivery state (``exchange.subscriptions.models``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("agreement", sa.String(length=64), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("division", sa.String(length=12), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subscriptions_system", "subscriptions", ["system"])
    op.create_table(
        "subscription_subjects",
        sa.Column("subscription_id", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"]),
        sa.PrimaryKeyConstraint("subscription_id", "subject"),
    )
    op.create_table(
        "subscription_watermarks",
        sa.Column("subscription_id", sa.String(length=48), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("watermark", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"]),
        sa.PrimaryKeyConstraint("subscription_id", "resource"),
    )
    op.create_table(
        "subscription_events",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("subscription_id", sa.String(length=48), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _WHEN, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("delivered_at", _WHEN, nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("audit_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "seq", name="uq_subscription_seq"),
    )
    op.create_index(
        "ix_subscription_events_head", "subscription_events", ["status", "subscription_id", "seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_subscription_events_head", table_name="subscription_events")
    op.drop_table("subscription_events")
    op.drop_table("subscription_watermarks")
    op.drop_table("subscription_subjects")
    op.drop_index("ix_subscriptions_system", table_name="subscriptions")
    op.drop_table("subscriptions")
