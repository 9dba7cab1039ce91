"""corrections: correction requests (校核纠错, 异议) and the notices they send

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 09:30:00.000000

``corrections`` holds one request that an attribute of one person is wrong at its source
department; ``correction_notices`` one notice owed to each system that received the old value
(``exchange.corrections.models``). The open requests are a cached domain (``exchange.changes``,
migration 0017): a ``corrections`` row in ``hub_changes`` whose stamp the database replaces, by
trigger, in every transaction that changes the ``corrections`` table, so every worker's set of
open disputes (异议标注) is read again only after a request is filed or answered.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)
_SQLITE_STAMP = "lower(hex(randomblob(16)))"
_POSTGRES_STAMP = "replace(gen_random_uuid()::text, '-', '')"


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("subject_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("attribute", sa.String(length=104), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("filed_by", sa.String(length=16), nullable=False),
        sa.Column("filer", sa.String(length=64), nullable=False),
        sa.Column("filer_department", sa.String(length=16), nullable=True),
        sa.Column("cited_request", sa.String(length=36), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filed_at", _WHEN, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("old_fingerprint", sa.String(length=44), nullable=True),
        sa.Column("new_fingerprint", sa.String(length=44), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider"], ["departments.code"], name=op.f("fk_corrections_provider_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
    )
    op.create_index(op.f("ix_corrections_subject"), "corrections", ["subject"])
    op.create_index(op.f("ix_corrections_provider"), "corrections", ["provider"])
    op.create_table(
        "correction_notices",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("correction_id", sa.String(length=48), nullable=False),
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("received_in", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("delivered_at", _WHEN, nullable=True),
        sa.Column("acknowledged_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["correction_id"],
            ["corrections.id"],
            name=op.f("fk_correction_notices_correction_id_corrections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correction_notices")),
    )
    op.create_index(
        op.f("ix_correction_notices_correction_id"), "correction_notices", ["correction_id"]
    )
    op.create_index(op.f("ix_correction_notices_system_id"), "correction_notices", ["system_id"])
    _stamp_domain()


def _stamp_domain() -> None:
    """The ``corrections`` domain of ``hub_changes``, replaced by every change of the table
    (as migration 0017 does for the other domains)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    stamp = _POSTGRES_STAMP if postgres else _SQLITE_STAMP
    op.execute(f"INSERT INTO hub_changes (domain, stamp) VALUES ('corrections', {stamp})")  # noqa: S608 - our own names
    if postgres:
        op.execute(
            "CREATE TRIGGER corrections_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
            " ON corrections FOR EACH STATEMENT EXECUTE FUNCTION"
            " tongban_mark_changed('corrections')"
        )
        return
    mark = f"UPDATE hub_changes SET stamp = {_SQLITE_STAMP} WHERE domain = 'corrections'"  # noqa: S608 - our own names
    for action in ("INSERT", "UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER corrections_changed_{action.lower()} AFTER {action} ON corrections"
            f" BEGIN {mark}; END"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS corrections_changed ON corrections")
    else:
        for action in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS corrections_changed_{action}")
    op.execute("DELETE FROM hub_changes WHERE domain = 'corrections'")
    op.drop_index(op.f("ix_correction_notices_system_id"), table_name="correction_notices")
    op.drop_index(op.f("ix_correction_notices_correction_id"), table_name="correction_notices")
    op.drop_table("correction_notices")
    op.drop_index(op.f("ix_corrections_provider"), table_name="corrections")
    op.drop_index(op.f("ix_corrections_subject"), table_name="corrections")
    op.drop_table("corrections")
