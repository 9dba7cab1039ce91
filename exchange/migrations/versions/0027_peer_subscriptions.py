"""peer subscriptions: subscriptions across hubs (回流)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 14:00:00.000000

``subscriptions.on_behalf_of`` (at the origin hub): a subscription a consumer peer hub holds
here for one of its own systems names that hub, its system and department, and its own
subscription (``exchange.subscriptions.models``). ``federation_subscriptions`` (at the relaying
hub): for each local subscription over resources another hub holds, the subscription this hub
holds at that peer, and the highest sequence number of the peer's events it accepted
(``exchange.federation.models``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("on_behalf_of", sa.JSON(), nullable=True))
    op.create_table(
        "federation_subscriptions",
        sa.Column("subscription_id", sa.String(length=48), nullable=False),
        sa.Column("peer_id", sa.String(length=32), nullable=False),
        sa.Column("remote_id", sa.String(length=48), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("accepted_seq", sa.Integer(), nullable=False),
        sa.Column("refused_seq", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_federation_subscriptions_subscription_id_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_federation_subscriptions_peer_id_federation_peers"),
        ),
        sa.PrimaryKeyConstraint(
            "subscription_id", "peer_id", name=op.f("pk_federation_subscriptions")
        ),
    )


def downgrade() -> None:
    op.drop_table("federation_subscriptions")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("on_behalf_of")
