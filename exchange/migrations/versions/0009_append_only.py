"""append-only tables refuse an insert that would overwrite a row, and TRUNCATE

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 18:30:00.000000

SQLite resolves ``INSERT OR REPLACE`` / ``REPLACE INTO`` by deleting the conflicting row, and
fires no DELETE trigger for that deletion unless ``recursive_triggers`` is on, so the UPDATE and
DELETE triggers of 0001 and 0005 let a replace rewrite history. Each append-only table gets a
``BEFORE INSERT`` trigger that refuses a row whose primary key or unique key is already taken:
it holds whatever the connection's pragmas (the hub also turns ``recursive_triggers`` on, in
``exchange.db``, as a second line). A plain duplicate insert still fails with an integrity error,
only with the trigger's message.

PostgreSQL has no REPLACE, and ``ON CONFLICT DO UPDATE`` fires the UPDATE triggers already in
place; but row triggers do not fire on TRUNCATE, so each table gets a statement trigger that
refuses it. Keeping the serving role from dropping the triggers or the tables is a matter of
ownership and grants: see ``docs/deployment-database.md`` and ``exchange.db.grant_serving_role``.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Each append-only table, with every key a replace could collide on (primary key first).
_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "resource_versions": (("resource_code", "version"),),
    "resource_fields": (("resource_code", "version", "name"),),
    "service_item_versions": (("service_item_code", "version"),),
    "audit_entries": (("idx",), ("request_id",)),
    "audit_nodes": (("level", "idx"),),
    "audit_checkpoints": (("size",),),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION tongban_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in _KEYS:
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION tongban_refuse_truncate()"
            )
        return
    for table, keys in _KEYS.items():
        taken = " OR ".join(
            "(" + " AND ".join(f"{column} = NEW.{column}" for column in key) + ")" for key in keys
        )
        refuse = f"SELECT RAISE(ABORT, '{table} is append-only')"
        exists = f"EXISTS (SELECT 1 FROM {table} WHERE {taken})"  # noqa: S608 - our own names
        op.execute(
            f"CREATE TRIGGER {table}_no_overwrite BEFORE INSERT ON {table}"
            f" WHEN {exists} BEGIN {refuse}; END"
        )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _KEYS:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_overwrite")
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS tongban_refuse_truncate()")
