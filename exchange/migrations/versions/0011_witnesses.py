"""witnesses: cosignatures on checkpoints, and the hub's view of each witness

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 00:15:00.000000

``audit_cosignatures`` keeps every cosignature (C2SP tlog-cosignature) a witness of the hub's
policy returned for a checkpoint, as the signature line it sent; ``audit_witnesses`` the size
each witness last cosigned and how the last submission went. Neither holds personal data.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("cosigner", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", "cosigner", "key_id", name=op.f("pk_audit_cosignatures")),
    )
    op.create_table(
        "audit_witnesses",
        sa.Column("cosigner", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("cosigned_size", sa.BigInteger(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("cosigner", "key_id", name=op.f("pk_audit_witnesses")),
    )


def downgrade() -> None:
    op.drop_table("audit_witnesses")
    op.drop_table("audit_cosignatures")
