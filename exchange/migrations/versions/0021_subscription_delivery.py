"""subscription delivery: webhook, broker or pull, per subscription

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 11:20:00.000000

``subscriptions.delivery`` says where a subscription's events go: ``webhook`` (its URL),
``broker`` (the deployment's NATS JetStream or RabbitMQ, ``TONGBAN_SUBSCRIPTION_BROKER_URL``) or
``pull``. Subscriptions made before are webhook ones when they have a URL, else pull ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(
            sa.Column("delivery", sa.String(length=16), nullable=False, server_default="webhook")
        )
    op.execute("UPDATE subscriptions SET delivery = 'pull' WHERE url IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("delivery")
