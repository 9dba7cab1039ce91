"""change stamps: what a worker may keep in memory, and when it must read it again

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 08:30:00.000000

``hub_changes`` holds one row per domain a worker caches in memory (``exchange.changes``): the
catalogue, the registered systems, the agreements and the hub's signing keys. Its ``stamp`` is a
random value that the database itself replaces, by trigger, in every transaction that inserts,
updates or deletes a row of the domain's tables (and, for the agreements, appends an agreement
lifecycle entry to the audit log), whichever process or tool writes. A worker reuses what it
read while the stamp it read with is still the stamp; a random stamp rather than a counter means
that a database restored from a backup, or another hub's database, never shows a stamp a worker
already holds for other contents.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_TABLES = {
    "catalogue": (
        "departments",
        "resources",
        "resource_versions",
        "resource_fields",
        "service_items",
        "service_item_versions",
    ),
    "systems": ("systems", "system_keys"),
    "agreements": ("agreements",),
    "keys": ("hub_signing_keys",),
}
_SQLITE_STAMP = "lower(hex(randomblob(16)))"
_POSTGRES_STAMP = "replace(gen_random_uuid()::text, '-', '')"


def upgrade() -> None:
    op.create_table(
        "hub_changes",
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("stamp", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_hub_changes")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    stamp = _POSTGRES_STAMP if postgres else _SQLITE_STAMP
    for domain in _TABLES:
        op.execute(f"INSERT INTO hub_changes (domain, stamp) VALUES ('{domain}', {stamp})")  # noqa: S608 - our own names
    if postgres:
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _postgres_triggers() -> None:
    mark = f"UPDATE hub_changes SET stamp = {_POSTGRES_STAMP} WHERE domain = TG_ARGV[0]"  # noqa: S608 - our own names
    op.execute(
        "CREATE FUNCTION tongban_mark_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {mark}; RETURN NULL; END $$"
    )
    for domain, tables in _TABLES.items():
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
                f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION tongban_mark_changed('{domain}')"
            )
    op.execute(
        "CREATE TRIGGER audit_entries_agreement_changed AFTER INSERT ON audit_entries"
        " FOR EACH ROW WHEN (NEW.kind = 'agreement')"
        " EXECUTE FUNCTION tongban_mark_changed('agreements')"
    )


def _sqlite_triggers() -> None:
    for domain, tables in _TABLES.items():
        mark = f"UPDATE hub_changes SET stamp = {_SQLITE_STAMP} WHERE domain = '{domain}'"  # noqa: S608 - our own names
        for table in tables:
            for action in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_changed_{action.lower()} AFTER {action} ON {table}"
                    f" BEGIN {mark}; END"
                )
    mark = f"UPDATE hub_changes SET stamp = {_SQLITE_STAMP} WHERE domain = 'agreements'"  # noqa: S608 - our own names
    op.execute(
        "CREATE TRIGGER audit_entries_agreement_changed AFTER INSERT ON audit_entries"
        f" WHEN NEW.kind = 'agreement' BEGIN {mark}; END"
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(
        "DROP TRIGGER IF EXISTS audit_entries_agreement_changed"
        + (" ON audit_entries" if postgres else "")
    )
    for tables in _TABLES.values():
        for table in tables:
            if postgres:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
                continue
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_changed_{action}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS tongban_mark_changed()")
    op.drop_table("hub_changes")
