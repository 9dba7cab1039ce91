"""crypto profile: the profile (intl or gm) a hub's data is written under, so another one stops it

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 09:00:00.000000

``hub_crypto_profile`` holds one row: the crypto profile the hub's data was written under
(``exchange.security.gm.profile_check``). A new database gets it at the hub's first start, from
``TONGBAN_CRYPTO_PROFILE``. A database that already holds a hub's data (a signing key, the
master secret's check value, or an audit entry) was written under the only profile there was,
``intl``, and this migration records that, so a hub upgraded and then started under ``gm`` is
refused instead of appending SM3 leaves to a SHA-256 tree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_WRITTEN_BY_A_HUB = ("hub_signing_keys", "hub_secret_check", "audit_entries")


def upgrade() -> None:
    table = op.create_table(
        "hub_crypto_profile",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("profile", sa.String(length=8), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_hub_crypto_profile_one_row")),
        sa.CheckConstraint("profile IN ('intl', 'gm')", name=op.f("ck_hub_crypto_profile_profile")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_crypto_profile")),
    )
    bind = op.get_bind()
    if any(
        bind.execute(sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1)).first()
        for name in _WRITTEN_BY_A_HUB
    ):
        op.bulk_insert(table, [{"id": 1, "profile": "intl", "recorded_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("hub_crypto_profile")
