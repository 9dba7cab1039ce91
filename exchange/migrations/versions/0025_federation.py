"""federation: peer hubs, their harvests and the resources they hold

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 11:00:00.000000

``federation_peers`` holds another hub this hub harvests from and relays to (a source) or
accepts relayed queries from (a consumer), with its keys pinned at registration;
``federation_harvests`` every harvest of a source peer's DCAT-AP catalogue, accepted or
refused; ``federation_resources`` each local resource another hub holds, with its origin
(``exchange.federation.models``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "federation_peers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("source", sa.Boolean(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("key_file", sa.Text(), nullable=True),
        sa.Column("consumer_system", sa.String(length=64), nullable=True),
        sa.Column("jwks", sa.JSON(), nullable=False),
        sa.Column("checkpoint_key", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("harvest_version", sa.Integer(), nullable=True),
        sa.Column("registered_at", _WHEN, nullable=False),
        sa.Column("registered_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_peers")),
        sa.UniqueConstraint("consumer_system", name=op.f("uq_federation_peers_consumer_system")),
    )
    op.create_table(
        "federation_harvests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("peer_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("by", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_federation_harvests_peer_id_federation_peers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_harvests")),
        sa.UniqueConstraint("peer_id", "number", name=op.f("uq_federation_harvests_peer_id")),
    )
    op.create_index(
        op.f("ix_federation_harvests_peer_id"), "federation_harvests", ["peer_id"], unique=False
    )
    op.create_table(
        "federation_resources",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("peer_id", sa.String(length=32), nullable=False),
        sa.Column("remote_version", sa.Integer(), nullable=False),
        sa.Column("harvest_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"], ["resources.code"], name=op.f("fk_federation_resources_code_resources")
        ),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_federation_resources_peer_id_federation_peers"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_federation_resources")),
    )
    op.create_index(
        op.f("ix_federation_resources_peer_id"), "federation_resources", ["peer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_federation_resources_peer_id"), table_name="federation_resources")
    op.drop_table("federation_resources")
    op.drop_index(op.f("ix_federation_harvests_peer_id"), table_name="federation_harvests")
    op.drop_table("federation_harvests")
    op.drop_table("federation_peers")
