"""disputes: disputes between departments over a sharing matter (art. 28) and their steps

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 14:20:00.000000

``disputes`` holds one dispute a department opens with another about an application, an
agreement, a correction request or a catalogue entry, with the level it has reached and the
clock of that level; ``dispute_steps`` its history (``exchange.disputes.models``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("claimant", sa.String(length=16), nullable=False),
        sa.Column("respondent", sa.String(length=16), nullable=False),
        sa.Column("matter_kind", sa.String(length=24), nullable=False),
        sa.Column("matter_id", sa.String(length=64), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("opened_at", _WHEN, nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("level_since", _WHEN, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("settlement", sa.Text(), nullable=True),
        sa.Column("settlement_by", sa.String(length=16), nullable=True),
        sa.Column("settlement_at", _WHEN, nullable=True),
        sa.Column("closed_at", _WHEN, nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("outcome_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["claimant"], ["departments.code"], name=op.f("fk_disputes_claimant_departments")
        ),
        sa.ForeignKeyConstraint(
            ["respondent"], ["departments.code"], name=op.f("fk_disputes_respondent_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    op.create_index(op.f("ix_disputes_claimant"), "disputes", ["claimant"])
    op.create_index(op.f("ix_disputes_respondent"), "disputes", ["respondent"])
    op.create_table(
        "dispute_steps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dispute_id", sa.String(length=48), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("actor_role", sa.String(length=24), nullable=False),
        sa.Column("actor_department", sa.String(length=16), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("document_name", sa.String(length=200), nullable=True),
        sa.Column("document_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["dispute_id"], ["disputes.id"], name=op.f("fk_dispute_steps_dispute_id_disputes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_steps")),
    )
    op.create_index(op.f("ix_dispute_steps_dispute_id"), "dispute_steps", ["dispute_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dispute_steps_dispute_id"), table_name="dispute_steps")
    op.drop_table("dispute_steps")
    op.drop_index(op.f("ix_disputes_respondent"), table_name="disputes")
    op.drop_index(op.f("ix_disputes_claimant"), table_name="disputes")
    op.drop_table("disputes")
