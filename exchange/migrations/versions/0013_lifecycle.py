"""lifecycle: consent and agreement lifecycle entries in the audit log, found by object

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 01:00:00.000000

``audit_entries.object_id`` holds the consent (or agreement) id a lifecycle entry is about,
copied from the entry as it is inserted (NULL for query and verify entries), indexed with the
entry's index so that the newest lifecycle entry of every object a request relies on is one
index seek each. ``tongban audit verify`` checks the column against the entry like the other
search columns. Existing entries are all query or verify entries: nothing to fill in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_entries", sa.Column("object_id", sa.String(length=48), nullable=True))
    op.create_index(
        op.f("ix_audit_entries_object"), "audit_entries", ["object_id", "idx"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_entries_object"), table_name="audit_entries")
    op.drop_column("audit_entries", "object_id")
