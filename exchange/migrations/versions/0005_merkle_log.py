"""merkle log: complete-subtree hashes, the head, checkpoints; entries numbered from 0

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 02:00:00.000000

Entries written by 0004's sink were numbered from 1; a Merkle log's leaves are numbered from 0,
so existing entries are renumbered (order kept) and their tree is built here.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_APPEND_ONLY = ("audit_entries", "audit_nodes", "audit_checkpoints")


def upgrade() -> None:
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_nodes")),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_audit_checkpoints")),
    )
    _drop_append_only(("audit_entries",))
    size, root = _renumber_and_build()
    now = datetime.now(UTC)
    op.bulk_insert(head, [{"id": 1, "size": size, "root": root, "updated_at": now}])
    _append_only(_APPEND_ONLY)


def _renumber_and_build() -> tuple[int, bytes]:
    """Number existing entries 0, 1, … in their order and store their tree's nodes."""
    bind = op.get_bind()
    # Two steps so no intermediate row collides with another's key.
    bind.execute(sa.text("UPDATE audit_entries SET idx = -idx"))
    first = bind.execute(sa.text("SELECT MAX(idx) FROM audit_entries")).scalar()
    if first is None:
        return 0, hashlib.sha256(b"").digest()
    bind.execute(sa.text("UPDATE audit_entries SET idx = :top - idx"), {"top": int(first)})
    # The tree, level by level (entries written before this migration: a development log).
    level = [
        bytes(row[0])
        for row in bind.execute(sa.text("SELECT leaf_hash FROM audit_entries ORDER BY idx"))
    ]
    size, depth, rows = len(level), 0, []
    while level:
        rows += [{"level": depth, "idx": i, "hash": h} for i, h in enumerate(level)]
        level = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        depth += 1
    nodes = sa.table(
        "audit_nodes", sa.column("level"), sa.column("idx"), sa.column("hash", sa.LargeBinary)
    )
    op.bulk_insert(nodes, rows)
    return size, _root(bind, size)


def _root(bind: sa.Connection, size: int) -> bytes:
    """RFC 9162 root of the first *size* leaves, from the complete subtrees just stored."""
    spans: list[bytes] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size & (1 << level):
            found = bind.execute(
                sa.text("SELECT hash FROM audit_nodes WHERE level = :l AND idx = :i"),
                {"l": level, "i": start >> level},
            ).scalar()
            if found is None:
                raise RuntimeError(f"node {level}/{start >> level} missing while building")
            spans.append(bytes(found))
            start += 1 << level
    root = spans[-1]
    for left in reversed(spans[:-1]):
        root = hashlib.sha256(b"\x01" + left + root).digest()
    return root


def _append_only(tables: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION tongban_audit_append_only()"
            )
        return
    for table in tables:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}"
                " BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END"
            )


def _drop_append_only(tables: tuple[str, ...]) -> None:
    for table in tables:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def downgrade() -> None:
    _drop_append_only(_APPEND_ONLY)
    op.execute("UPDATE audit_entries SET idx = -idx - 1")
    op.execute("UPDATE audit_entries SET idx = -idx")
    _append_only(("audit_entries",))
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_head")
    op.drop_table("audit_nodes")
