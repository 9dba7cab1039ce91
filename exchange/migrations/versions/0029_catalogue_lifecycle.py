"""catalogue lifecycle: submissions and their assessments, update duties, supply-demand requests

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 14:00:00.000000

The tables of ``exchange.lifecycle.models`` (《政务数据共享条例》 art. 13-17 and 20):
``catalogue_submissions`` (a catalogue entry reviewed by the data authority, or a bootstrap load
recorded as such), ``catalogue_assessments`` (the 保密风险 and 个人信息保护影响 assessments,
stored with their SHA-256), ``catalogue_update_duties`` (an update owed on a clock, with one
extension) and ``data_demands`` (供需对接).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def _department(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["departments.code"], name=op.f(f"fk_{table}_{column}_departments")
    )


def upgrade() -> None:
    op.create_table(
        "catalogue_submissions",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("resource_code", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("descriptor", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("signed_off_by", sa.String(length=128), nullable=True),
        sa.Column("signed_off_at", _WHEN, nullable=True),
        sa.Column("signed_digest", sa.String(length=64), nullable=True),
        sa.Column("submitted_by", sa.String(length=128), nullable=True),
        sa.Column("submitted_at", _WHEN, nullable=True),
        sa.Column("review_due_on", sa.Date(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("published_version", sa.Integer(), nullable=True),
        _department("catalogue_submissions", "provider"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_submissions")),
    )
    op.create_index(
        op.f("ix_catalogue_submissions_resource_code"), "catalogue_submissions", ["resource_code"]
    )
    op.create_index(
        op.f("ix_catalogue_submissions_provider"), "catalogue_submissions", ["provider"]
    )
    op.create_table(
        "catalogue_assessments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=128), nullable=False),
        sa.Column("uploaded_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["catalogue_submissions.id"],
            name=op.f("fk_catalogue_assessments_submission_id_catalogue_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_assessments")),
        sa.UniqueConstraint(
            "submission_id", "kind", name=op.f("uq_catalogue_assessments_submission_id")
        ),
    )
    op.create_index(
        op.f("ix_catalogue_assessments_submission_id"), "catalogue_assessments", ["submission_id"]
    )
    op.create_table(
        "catalogue_update_duties",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("resource_code", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("opened_role", sa.String(length=32), nullable=False),
        sa.Column("opened_at", _WHEN, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("extension", sa.String(length=16), nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("extension_asked_at", _WHEN, nullable=True),
        sa.Column("extension_decided_by", sa.String(length=128), nullable=True),
        sa.Column("extension_decided_at", _WHEN, nullable=True),
        sa.Column("extension_reasons", sa.Text(), nullable=True),
        sa.Column("fulfilled_at", _WHEN, nullable=True),
        sa.Column("fulfilled_version", sa.Integer(), nullable=True),
        _department("catalogue_update_duties", "provider"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_update_duties")),
    )
    op.create_index(
        op.f("ix_catalogue_update_duties_resource_code"),
        "catalogue_update_duties",
        ["resource_code"],
    )
    op.create_index(
        op.f("ix_catalogue_update_duties_provider"), "catalogue_update_duties", ["provider"]
    )
    op.create_table(
        "data_demands",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("requester", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("wanted", sa.Text(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("term_until", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filed_at", _WHEN, nullable=False),
        sa.Column("route_due_on", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("routed_by", sa.String(length=128), nullable=True),
        sa.Column("routed_at", _WHEN, nullable=True),
        sa.Column("route_note", sa.Text(), nullable=True),
        sa.Column("reply_due_on", sa.Date(), nullable=True),
        sa.Column("replied_by", sa.String(length=128), nullable=True),
        sa.Column("replied_at", _WHEN, nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("resource_code", sa.String(length=64), nullable=True),
        _department("data_demands", "requester"),
        _department("data_demands", "provider"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_demands")),
    )
    op.create_index(op.f("ix_data_demands_requester"), "data_demands", ["requester"])
    op.create_index(op.f("ix_data_demands_provider"), "data_demands", ["provider"])


def downgrade() -> None:
    op.drop_index(op.f("ix_data_demands_provider"), table_name="data_demands")
    op.drop_index(op.f("ix_data_demands_requester"), table_name="data_demands")
    op.drop_table("data_demands")
    op.drop_index(op.f("ix_catalogue_update_duties_provider"), table_name="catalogue_update_duties")
    op.drop_index(
        op.f("ix_catalogue_update_duties_resource_code"), table_name="catalogue_update_duties"
    )
    op.drop_table("catalogue_update_duties")
    op.drop_index(
        op.f("ix_catalogue_assessments_submission_id"), table_name="catalogue_assessments"
    )
    op.drop_table("catalogue_assessments")
    op.drop_index(op.f("ix_catalogue_submissions_provider"), table_name="catalogue_submissions")
    op.drop_index(
        op.f("ix_catalogue_submissions_resource_code"), table_name="catalogue_submissions"
    )
    op.drop_table("catalogue_submissions")
