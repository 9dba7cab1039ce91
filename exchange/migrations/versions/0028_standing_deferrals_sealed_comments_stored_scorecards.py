"""standing deferrals, sealed rating comments, stored scorecards of closed months

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 14:15:00.000000

``notice_standing_deferrals`` holds deferrals declared before any access, for some of a
department's systems and one citizen (a keyed pseudonym), over a period
(``exchange.notice.models.StandingDeferral``, docs/notice.md). ``ratings`` gains
``comment_sealed`` (the comment under the crypto profile's AEAD) and ``comment_erased_at`` (the
retention job erased it); ``comment`` stays for comments stored in clear before, which the
``feedback.comments`` job seals (docs/scorecards.md). ``scorecard_months`` keeps the scorecards
of each closed China month once computed (``exchange.scorecards.models.ScorecardMonth``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notice_standing_deferrals",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("department", sa.String(length=16), nullable=False),
        sa.Column("systems", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("reason_kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reason_salt", sa.String(length=32), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("starts", sa.Date(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_standing_deferrals")),
    )
    op.create_index(
        op.f("ix_notice_standing_deferrals_department"),
        "notice_standing_deferrals",
        ["department"],
    )
    op.create_index(
        op.f("ix_notice_standing_deferrals_subject"), "notice_standing_deferrals", ["subject"]
    )
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("comment_sealed", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("comment_erased_at", _WHEN, nullable=True))
    op.create_table(
        "scorecard_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("cards", sa.Text(), nullable=False),
        sa.Column("trend_point", sa.Text(), nullable=False),
        sa.Column("computed_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_scorecard_months")),
    )


def downgrade() -> None:
    op.drop_table("scorecard_months")
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("comment_erased_at")
        batch.drop_column("comment_sealed")
    op.drop_table("notice_standing_deferrals")
