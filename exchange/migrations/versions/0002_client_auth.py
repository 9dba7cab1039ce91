"""client authentication: hub signing keys and the client-assertion replay store

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("alg IN ('EdDSA', 'ES256')", name=op.f("ck_hub_signing_keys_alg")),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_hub_signing_keys")),
        sa.UniqueConstraint("generation", name=op.f("uq_hub_signing_keys_generation")),
    )
    op.create_table(
        "client_assertion_jtis",
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["systems.id"],
            name=op.f("fk_client_assertion_jtis_system_id_systems"),
        ),
        sa.PrimaryKeyConstraint("system_id", "jti", name=op.f("pk_client_assertion_jtis")),
    )
    with op.batch_alter_table("client_assertion_jtis", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_assertion_jtis_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("client_assertion_jtis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_assertion_jtis_expires_at"))

    op.drop_table("client_assertion_jtis")
    op.drop_table("hub_signing_keys")
