"""stewardship: usage records, disposal attestations and suspensions of agreements (art. 25-29)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 14:50:00.000000

``usage_records``, ``disposal_attestations`` and ``agreement_suspensions``
(``exchange.stewardship.models``). Every change of ``agreement_suspensions`` marks the
``agreements`` domain of ``hub_changes`` changed (migration 0017), so every worker reads its
agreements again and a suspended agreement releases nothing from its next request on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)
_SQLITE_STAMP = "lower(hex(randomblob(16)))"


def _agreement_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["agreement_id"], ["agreements.id"], name=op.f(f"fk_{table}_agreement_id_agreements")
    )


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("agreement_id", sa.String(length=48), nullable=False),
        sa.Column("department", sa.String(length=16), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False),
        sa.Column("process", sa.Text(), nullable=False),
        sa.Column("effect", sa.Text(), nullable=False),
        sa.Column("storage", sa.Text(), nullable=False),
        sa.Column("disposal", sa.Text(), nullable=False),
        sa.Column("amends", sa.String(length=48), nullable=True),
        sa.Column("filed_at", _WHEN, nullable=False),
        sa.Column("filed_by", sa.String(length=128), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=False),
        _agreement_fk("usage_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
    )
    op.create_index(op.f("ix_usage_records_agreement_id"), "usage_records", ["agreement_id"])
    op.create_table(
        "disposal_attestations",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("agreement_id", sa.String(length=48), nullable=False),
        sa.Column("department", sa.String(length=16), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("how", sa.Text(), nullable=False),
        sa.Column("disposed_on", sa.Date(), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("filed_at", _WHEN, nullable=False),
        sa.Column("filed_by", sa.String(length=128), nullable=False),
        _agreement_fk("disposal_attestations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposal_attestations")),
    )
    op.create_index(
        op.f("ix_disposal_attestations_agreement_id"), "disposal_attestations", ["agreement_id"]
    )
    op.create_table(
        "agreement_suspensions",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("agreement_id", sa.String(length=48), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("remedy_by", sa.Date(), nullable=False),
        sa.Column("suspended_at", _WHEN, nullable=False),
        sa.Column("suspended_by", sa.String(length=128), nullable=False),
        sa.Column("suspended_by_role", sa.String(length=24), nullable=False),
        sa.Column("ended_at", _WHEN, nullable=True),
        sa.Column("ended_by", sa.String(length=128), nullable=True),
        sa.Column("ended_note", sa.Text(), nullable=True),
        _agreement_fk("agreement_suspensions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_suspensions")),
    )
    op.create_index(
        op.f("ix_agreement_suspensions_agreement_id"), "agreement_suspensions", ["agreement_id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER agreement_suspensions_changed AFTER INSERT OR UPDATE OR DELETE OR"
            " TRUNCATE ON agreement_suspensions FOR EACH STATEMENT EXECUTE FUNCTION"
            " tongban_mark_changed('agreements')"
        )
        return
    mark = f"UPDATE hub_changes SET stamp = {_SQLITE_STAMP} WHERE domain = 'agreements'"  # noqa: S608 - our own names
    for action in ("INSERT", "UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER agreement_suspensions_changed_{action.lower()} AFTER {action}"
            f" ON agreement_suspensions BEGIN {mark}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS agreement_suspensions_changed ON agreement_suspensions")
    else:
        for action in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS agreement_suspensions_changed_{action}")
    for table in ("agreement_suspensions", "disposal_attestations", "usage_records"):
        op.drop_index(op.f(f"ix_{table}_agreement_id"), table_name=table)
        op.drop_table(table)
