"""SM2 hub keys: a hub under the gm crypto profile stores SM2SM3 signing keys

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 11:20:00.000000

``hub_signing_keys.alg`` was limited to ``EdDSA`` and ``ES256``; a hub under the ``gm`` crypto
profile (``exchange.security.gm``) signs with SM2 (JWS ``alg`` ``SM2SM3``, docs/gm.md), so the
check admits it too. Which of the three a hub may hold is its profile's to decide
(``exchange.security.keys``), not the table's.

SQLite changes a check by copying the table, which drops its triggers: the change-stamp
triggers of migration 0017 (domain ``keys``) are made again on the new table.
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_NAME = "ck_hub_signing_keys_alg"
_SQLITE_MARK = "UPDATE hub_changes SET stamp = lower(hex(randomblob(16))) WHERE domain = 'keys'"


def _replace_check(condition: str) -> None:
    with op.batch_alter_table("hub_signing_keys", recreate="auto") as batch:
        batch.drop_constraint(op.f(_NAME), type_="check")
        batch.create_check_constraint(op.f(_NAME), condition)
    if op.get_bind().dialect.name == "sqlite":  # the copy lost 0017's triggers
        for action in ("INSERT", "UPDATE", "DELETE"):
            trigger = f"hub_signing_keys_changed_{action.lower()}"
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            op.execute(
                f"CREATE TRIGGER {trigger} AFTER {action} ON hub_signing_keys"
                f" BEGIN {_SQLITE_MARK}; END"
            )


def upgrade() -> None:
    _replace_check("alg IN ('EdDSA', 'ES256', 'SM2SM3')")


def downgrade() -> None:
    _replace_check("alg IN ('EdDSA', 'ES256')")
