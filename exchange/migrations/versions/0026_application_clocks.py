"""application clocks: the 2025 form of an application, its notice, extension and delivery

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 14:00:00.000000

An application in the form of the 《政务数据共享条例》 (art. 20-22) carries its ``use``
(使用场景、使用范围、共享方式); its reply clock (``reply_working_days``: 1 for unconditional
data, 10 for conditional); the provider's one-time notice of missing materials
(``materials_notice``, 一次性告知) and when they were supplied; the one extension of the reply
clock and the data authority's decision on it (``extension``); and, once approved, the delivery
clock (``delivery_due_by``) and what stopped it (``delivery``) (``exchange.agreements.models``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("agreements") as table:
        table.add_column(sa.Column("use", sa.JSON(), nullable=True))
        table.add_column(sa.Column("reply_working_days", sa.Integer(), nullable=True))
        table.add_column(sa.Column("materials_notice", sa.JSON(), nullable=True))
        table.add_column(sa.Column("materials_supplied_at", _WHEN, nullable=True))
        table.add_column(sa.Column("extension", sa.JSON(), nullable=True))
        table.add_column(sa.Column("delivery_due_by", sa.Date(), nullable=True))
        table.add_column(sa.Column("delivery", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agreements") as table:
        for name in (
            "delivery",
            "delivery_due_by",
            "extension",
            "materials_supplied_at",
            "materials_notice",
            "reply_working_days",
            "use",
        ):
            table.drop_column(name)
