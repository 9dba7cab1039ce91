"""ratings and source probes: feedback (好差评) and the scorecards' availability and latency

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 11:40:00.000000

``ratings`` holds one rating (``exchange.feedback.models``): a citizen's of one handling of a
service item (``handling`` unique), or a consumer department's of one resource for one China
month (unique per department, resource and month). ``source_probes`` holds what each bound
source answered to the hub's periodic health probe (``exchange.scorecards.models``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("rater", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("rater_department", sa.String(length=16), nullable=True),
        sa.Column("staff", sa.String(length=64), nullable=True),
        sa.Column("handling", sa.String(length=36), nullable=True),
        sa.Column("service_item", sa.String(length=64), nullable=True),
        sa.Column("handled_by", sa.String(length=16), nullable=True),
        sa.Column("resource", sa.String(length=64), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("asked_again", sa.JSON(), nullable=False),
        sa.Column("wrong", sa.JSON(), nullable=False),
        sa.Column("wrong_providers", sa.JSON(), nullable=False),
        sa.Column("asked_providers", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint("handling", name="uq_ratings_handling"),
        sa.UniqueConstraint("rater_department", "resource", "month", name="uq_ratings_department"),
    )
    op.create_index(op.f("ix_ratings_subject"), "ratings", ["subject"])
    op.create_index(op.f("ix_ratings_provider"), "ratings", ["provider"])
    op.create_index(op.f("ix_ratings_month"), "ratings", ["month"])
    op.create_table(
        "source_probes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("probed_at", _WHEN, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_probes")),
    )
    op.create_index("ix_source_probes_provider_at", "source_probes", ["provider", "probed_at"])


def downgrade() -> None:
    op.drop_index("ix_source_probes_provider_at", table_name="source_probes")
    op.drop_table("source_probes")
    op.drop_index(op.f("ix_ratings_month"), table_name="ratings")
    op.drop_index(op.f("ix_ratings_provider"), table_name="ratings")
    op.drop_index(op.f("ix_ratings_subject"), table_name="ratings")
    op.drop_table("ratings")
