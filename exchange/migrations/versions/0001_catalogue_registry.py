"""catalogue registry: departments, systems, resources, service items, search index

Revision ID: 0001
Revises:
Create Date: 2026-11-21 21:44:58.207119
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "departments",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("uscc_check_ok", sa.Boolean(), nullable=True),
        sa.Column("division", sa.String(length=6), nullable=True),
        sa.Column("homepage", sa.String(length=500), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_departments")),
    )
    op.create_table(
        "resources",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("namespace", sa.String(length=40), nullable=False),
        sa.Column("provider_code", sa.String(length=16), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deprecated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deprecation_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_code"],
            ["departments.code"],
            name=op.f("fk_resources_provider_code_departments"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_resources")),
        sa.UniqueConstraint("namespace", name=op.f("uq_resources_namespace")),
    )
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resources_provider_code"), ["provider_code"], unique=False
        )

    op.create_table(
        "service_items",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("owner_code", sa.String(length=16), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_code"],
            ["departments.code"],
            name=op.f("fk_service_items_owner_code_departments"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_service_items")),
    )
    with op.batch_alter_table("service_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_items_owner_code"), ["owner_code"], unique=False
        )

    op.create_table(
        "systems",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("department_code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["departments.code"],
            name=op.f("fk_systems_department_code_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems")),
    )
    with op.batch_alter_table("systems", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_systems_department_code"), ["department_code"], unique=False
        )

    op.create_table(
        "resource_versions",
        sa.Column("resource_code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("descriptor", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_code"],
            ["resources.code"],
            name=op.f("fk_resource_versions_resource_code_resources"),
        ),
        sa.PrimaryKeyConstraint("resource_code", "version", name=op.f("pk_resource_versions")),
    )
    op.create_table(
        "service_item_versions",
        sa.Column("service_item_code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("descriptor", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_item_code"],
            ["service_items.code"],
            name=op.f("fk_service_item_versions_service_item_code_service_items"),
        ),
        sa.PrimaryKeyConstraint(
            "service_item_code", "version", name=op.f("pk_service_item_versions")
        ),
    )
    op.create_table(
        "system_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.String(length=128), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("jwk", sa.JSON(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_system_keys_system_id_systems")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_keys")),
        sa.UniqueConstraint("system_id", "kid", name=op.f("uq_system_keys_system_id")),
    )
    with op.batch_alter_table("system_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_system_keys_system_id"), ["system_id"], unique=False)

    op.create_table(
        "resource_fields",
        sa.Column("resource_code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("data_type", sa.String(length=16), nullable=False),
        sa.Column("sharing_type", sa.String(length=16), nullable=False),
        sa.Column("sensitivity", sa.String(length=24), nullable=False),
        sa.Column("transform", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_code", "version"],
            ["resource_versions.resource_code", "resource_versions.version"],
            name=op.f("fk_resource_fields_resource_code_resource_versions"),
        ),
        sa.PrimaryKeyConstraint(
            "resource_code", "version", "name", name=op.f("pk_resource_fields")
        ),
    )
    _create_search_index()
    _make_versions_immutable()


_IMMUTABLE = ("resource_versions", "resource_fields", "service_item_versions")


def _create_search_index() -> None:
    """Full-text index of resources; see catalogue/search.py for the segmentation."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE resource_search ("
            " resource_code VARCHAR(64) PRIMARY KEY REFERENCES resources (code),"
            " body TEXT NOT NULL,"
            " tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED)"
        )
        op.execute("CREATE INDEX ix_resource_search_tsv ON resource_search USING GIN (tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE resource_search USING fts5("
            "resource_code, body, tokenize = 'unicode61')"
        )


def _make_versions_immutable() -> None:
    """Published versions are history: the database itself refuses to change them."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION tongban_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'published versions are immutable'; END $$"
        )
        for table in _IMMUTABLE:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION tongban_refuse_change()"
            )
        return
    for table in _IMMUTABLE:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}"
                " BEGIN SELECT RAISE(ABORT, 'published versions are immutable'); END"
            )


def downgrade() -> None:
    bind = op.get_bind()
    for table in _IMMUTABLE:
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS tongban_refuse_change()")
    op.execute("DROP TABLE IF EXISTS resource_search")

    op.drop_table("resource_fields")
    with op.batch_alter_table("system_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_keys_system_id"))

    op.drop_table("system_keys")
    op.drop_table("service_item_versions")
    op.drop_table("resource_versions")
    with op.batch_alter_table("systems", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_systems_department_code"))

    op.drop_table("systems")
    with op.batch_alter_table("service_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_items_owner_code"))

    op.drop_table("service_items")
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resources_provider_code"))

    op.drop_table("resources")
    op.drop_table("departments")
