"""secret check: the master secret's check value, so a wrong secret stops the hub at start

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 04:00:00.000000

``hub_secret_check`` holds one row: the check value of the master secret the hub first started
with (``exchange.security.secret_check``). Every start compares it with the configured secret's,
and ``/readyz`` answers 503 when they differ. A hub upgraded from 0015 records its value at its
next start, once its stored signing key decrypts under the configured secret.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_secret_check",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("check_value", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_hub_secret_check_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_secret_check")),
    )


def downgrade() -> None:
    op.drop_table("hub_secret_check")
