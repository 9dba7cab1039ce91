"""subject map: a versioned sparse Merkle tree of the audit log by subject, and each subject's value

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 12:00:00.000000

``audit_map_nodes`` keeps every node of the subject map (``exchange.audit.vmap``) as each batch
left it, keyed by (depth, prefix, version): the node at version V is its position's newest row
with version ≤ V, which the primary key finds with one index seek. A leaf row holds its key and
value hash, an inner node's row its children's hashes (so a path's rows hold its siblings).
``audit_map_values`` keeps each subject's current value (entry count, chain, last index) by map
key, a hash of the pseudonym. Neither holds personal data. Byte columns that are part of a key
are VARBINARY on MySQL and MariaDB (a BLOB needs a prefix length there); every key is at most
42 bytes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _bytes() -> sa.types.TypeEngine[bytes]:
    return sa.LargeBinary(length=32).with_variant(sa.VARBINARY(32), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "audit_map_nodes",
        sa.Column("depth", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("prefix", _bytes(), nullable=False),
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", _bytes(), nullable=False),
        sa.Column("leaf_key", _bytes(), nullable=True),
        sa.Column("leaf_value", _bytes(), nullable=True),
        sa.Column("left_hash", _bytes(), nullable=True),
        sa.Column("right_hash", _bytes(), nullable=True),
        sa.PrimaryKeyConstraint("depth", "prefix", "version", name=op.f("pk_audit_map_nodes")),
    )
    op.create_table(
        "audit_map_values",
        sa.Column("map_key", _bytes(), nullable=False),
        sa.Column("entry_count", sa.BigInteger(), nullable=False),
        sa.Column("chain", _bytes(), nullable=False),
        sa.Column("last_index", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("map_key", name=op.f("pk_audit_map_values")),
    )


def downgrade() -> None:
    op.drop_table("audit_map_values")
    op.drop_table("audit_map_nodes")
