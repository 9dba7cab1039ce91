"""subject map: its nodes are append-only, like the log's

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 03:00:00.000000

Every audit batch now adds to the subject map (``exchange.audit.vmap_store``) and every
checkpoint commits to its root. ``audit_map_nodes`` rows are written once per version and never
changed, so they get the log's triggers: no UPDATE, no DELETE (0005's), no overwriting INSERT
and, on PostgreSQL, no TRUNCATE (0009's). ``audit_map_values`` holds each subject's current
value and is updated in place; ``tongban audit verify`` recomputes both from the entries.

A hub upgraded with a log builds its map from the stored entries on its first append or
checkpoint (or ahead of that with ``tongban audit build-map``).
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TABLE = "audit_map_nodes"
_KEY = ("depth", "prefix", "version")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {_TABLE}_append_only BEFORE UPDATE OR DELETE ON {_TABLE}"
            " FOR EACH ROW EXECUTE FUNCTION tongban_audit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_truncate BEFORE TRUNCATE ON {_TABLE}"
            " FOR EACH STATEMENT EXECUTE FUNCTION tongban_refuse_truncate()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_{action.lower()} BEFORE {action} ON {_TABLE}"
            " BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END"
        )
    taken = " AND ".join(f"{column} = NEW.{column}" for column in _KEY)
    exists = f"EXISTS (SELECT 1 FROM {_TABLE} WHERE {taken})"  # noqa: S608 - our own names
    refuse = f"SELECT RAISE(ABORT, '{_TABLE} is append-only')"
    op.execute(
        f"CREATE TRIGGER {_TABLE}_no_overwrite BEFORE INSERT ON {_TABLE}"
        f" WHEN {exists} BEGIN {refuse}; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_append_only ON {_TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_no_truncate ON {_TABLE}")
        return
    for name in ("no_update", "no_delete", "no_overwrite"):
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_{name}")
