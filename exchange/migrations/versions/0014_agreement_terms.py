"""agreement terms: the hub-signed terms of each approved agreement

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 01:10:00.000000

``agreements.terms`` holds the JWS (``tongban-agreement+jwt``) of the terms the exchange
enforces, signed by the hub when it approves an application or loads a document. Existing
agreements have none until ``tongban audit record-lifecycles`` signs and records them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agreements", sa.Column("terms", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("agreements", "terms")
