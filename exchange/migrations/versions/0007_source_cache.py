"""source cache (前置库 mode): department data keys, sealed records, sync state

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 09:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cache_data_keys",
        sa.Column("department", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["department"],
            ["departments.code"],
            name=op.f("fk_cache_data_keys_department_departments"),
        ),
        sa.PrimaryKeyConstraint("department", "version", name=op.f("pk_cache_data_keys")),
    )
    op.create_table(
        "cache_records",
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("content_mac", sa.String(length=64), nullable=False),
        sa.Column("watermark", sa.String(length=64), nullable=True),
        sa.Column("synced_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["resource"], ["resources.code"], name=op.f("fk_cache_records_resource_resources")
        ),
        sa.PrimaryKeyConstraint("resource", "subject", "seq", name=op.f("pk_cache_records")),
    )
    op.create_table(
        "cache_sync_state",
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("watermark", sa.String(length=64), nullable=True),
        sa.Column("last_success_at", _WHEN, nullable=True),
        sa.Column("last_attempt_at", _WHEN, nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource"], ["resources.code"], name=op.f("fk_cache_sync_state_resource_resources")
        ),
        sa.PrimaryKeyConstraint("resource", name=op.f("pk_cache_sync_state")),
    )


def downgrade() -> None:
    op.drop_table("cache_sync_state")
    op.drop_table("cache_records")
    op.drop_table("cache_data_keys")
