"""sharing agreements: applications and decisions, their history, and per-day use counts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("consumer_department", sa.String(length=16), nullable=False),
        sa.Column("provider_department", sa.String(length=16), nullable=False),
        sa.Column("resource_code", sa.String(length=64), nullable=False),
        sa.Column("resource_version", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("requested_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=128), nullable=False),
        sa.Column("due_by", sa.Date(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("granted", sa.JSON(), nullable=True),
        sa.Column("row_condition", sa.JSON(), nullable=True),
        sa.Column("daily_quota", sa.Integer(), nullable=True),
        sa.Column("requires_consent", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refusal_reason", sa.Text(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
        sa.Column("document_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_agreements_system_id_systems")
        ),
        sa.ForeignKeyConstraint(
            ["consumer_department"],
            ["departments.code"],
            name=op.f("fk_agreements_consumer_department_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_department"],
            ["departments.code"],
            name=op.f("fk_agreements_provider_department_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["resource_code"],
            ["resources.code"],
            name=op.f("fk_agreements_resource_code_resources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
    )
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreements_system_id"), ["system_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_agreements_consumer_department"), ["consumer_department"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agreements_provider_department"), ["provider_department"], unique=False
        )

    op.create_table(
        "agreement_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.String(length=48), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("actor_role", sa.String(length=24), nullable=False),
        sa.Column("actor_department", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_events_agreement_id_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_events")),
    )
    with op.batch_alter_table("agreement_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreement_events_agreement_id"), ["agreement_id"], unique=False
        )

    op.create_table(
        "agreement_usage",
        sa.Column("agreement_id", sa.String(length=48), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_usage_agreement_id_agreements"),
        ),
        sa.PrimaryKeyConstraint("agreement_id", "day", name=op.f("pk_agreement_usage")),
    )


def downgrade() -> None:
    op.drop_table("agreement_usage")
    with op.batch_alter_table("agreement_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_events_agreement_id"))

    op.drop_table("agreement_events")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreements_provider_department"))
        batch_op.drop_index(batch_op.f("ix_agreements_consumer_department"))
        batch_op.drop_index(batch_op.f("ix_agreements_system_id"))

    op.drop_table("agreements")
