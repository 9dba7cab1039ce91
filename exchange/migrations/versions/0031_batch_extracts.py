"""batch extracts: consumers' encryption keys, extracts and their encrypted chunks

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 14:30:00.000000

``batch_keys`` holds the public keys case systems register to receive batch extracts
(JWE ECDH-ES, P-256 or X25519); ``batch_extracts`` one extract of an agreement's fields for the
people a consumer names, with the hub's signed manifest, until it expires; ``batch_chunks`` its
encrypted chunks (the hub cannot decrypt them), deleted at expiry (``exchange.batch.models``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batch_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.String(length=128), nullable=False),
        sa.Column("jwk", sa.JSON(), nullable=False),
        sa.Column("registered_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["systems.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("system_id", "kid", name="uq_batch_keys_system_kid"),
    )
    op.create_table(
        "batch_extracts",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("agreement_id", sa.String(length=48), nullable=False),
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.String(length=128), nullable=False),
        sa.Column("subjects", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("deleted_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.id"]),
        sa.ForeignKeyConstraint(["system_id"], ["systems.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_batch_extracts_system_id", "batch_extracts", ["system_id"])
    op.create_index("ix_batch_extracts_expires_at", "batch_extracts", ["expires_at"])
    op.create_table(
        "batch_chunks",
        sa.Column("extract_id", sa.String(length=48), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("jwe", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["extract_id"], ["batch_extracts.id"]),
        sa.PrimaryKeyConstraint("extract_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("batch_chunks")
    op.drop_index("ix_batch_extracts_expires_at", table_name="batch_extracts")
    op.drop_index("ix_batch_extracts_system_id", table_name="batch_extracts")
    op.drop_table("batch_extracts")
    op.drop_table("batch_keys")
