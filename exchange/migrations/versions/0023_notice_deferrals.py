"""notice deferrals: accesses whose notice to the citizen is deferred (PIPL art. 35)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 11:40:00.000000

``notice_deferrals`` holds one request that the notice of one access (an audit entry, by its
index) to its citizen be deferred while secrecy is lawful: reason kind, reason (for auditors),
legal basis, until a China day or an event, who asked, who approved, how it ended
(``exchange.notice.models``, docs/notice.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notice_deferrals",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column(
            "access_index", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=16), nullable=False),
        sa.Column("reason_kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reason_salt", sa.String(length=32), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("until_event", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", _WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("ended_at", _WHEN, nullable=True),
        sa.Column("ended_by", sa.String(length=8), nullable=True),
        sa.Column("event_recorded_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_deferrals")),
    )
    op.create_index(op.f("ix_notice_deferrals_access_index"), "notice_deferrals", ["access_index"])
    op.create_index(op.f("ix_notice_deferrals_subject"), "notice_deferrals", ["subject"])
    op.create_index(op.f("ix_notice_deferrals_department"), "notice_deferrals", ["department"])


def downgrade() -> None:
    op.drop_table("notice_deferrals")
