"""verify budget: per (system, subject pseudonym, field, counter) answers still in the window

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 19:00:00.000000

One row per budget of ``exchange.query.budget``: the times of the ``no_match`` answers, or
of the distinct predicate arguments (as keyed digests), that one system got about one field of
one subject within the window. The subject is the audit log's keyed pseudonym; no row holds an
ID number, a claimed value or an argument in clear.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verify_budget",
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=104), nullable=False),
        sa.Column("counter", sa.String(length=16), nullable=False),
        sa.Column("marks", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "system_id", "subject", "field", "counter", name=op.f("pk_verify_budget")
        ),
    )
    op.create_index(op.f("ix_verify_budget_updated_at"), "verify_budget", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_verify_budget_updated_at"), table_name="verify_budget")
    op.drop_table("verify_budget")
