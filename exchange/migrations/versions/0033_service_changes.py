"""service_changes: a provider's notice before it stops or changes a service (art. 29)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 15:15:00.000000

``service_changes`` (``exchange.stewardship.models.ServiceChange``): which resource and fields,
stopped or changed, from when, and why; every consumer with an agreement on the resource sees it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_changes",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("resource_code", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("filed_at", _WHEN, nullable=False),
        sa.Column("filed_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_code"],
            ["resources.code"],
            name=op.f("fk_service_changes_resource_code_resources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_changes")),
    )
    op.create_index(op.f("ix_service_changes_resource_code"), "service_changes", ["resource_code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_service_changes_resource_code"), table_name="service_changes")
    op.drop_table("service_changes")
