"""Attack: rewrite history in the append-only tables (the audit log, published catalogue
versions) without touching the schema.

On SQLite, ``INSERT OR REPLACE`` / ``REPLACE INTO`` resolve a key conflict by deleting the old
row, and that deletion fires no DELETE trigger unless ``recursive_triggers`` is on: the review
rewrote audit entries that way. Every way of overwriting a row is tried on every append-only
table, through the hub's own connection and through a bare ``sqlite3`` connection with no
pragmas (an attacker with the file). On PostgreSQL the hub serves as a role that owns nothing
and may only read and append: it cannot update, delete, truncate, alter or drop those tables,
nor disable their triggers; and even the owner's UPDATE, DELETE and TRUNCATE are refused.
"""

# The attacks are SQL built from the reflected schema's own table and column names.
# ruff: noqa: S608

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from exchange.db import (
    APPEND_ONLY_TABLES,
    SERVING_ROLE_ENV,
    ServingRoleMisconfigured,
    make_engine,
    migrate,
)
from tests.conftest import POSTGRES_ENV, missing, throwaway_database
from tests.servers import DemoHub, build_demo, dev_environment, serving

# Parents first: the catalogue versions reference their resource / service item.
PARENTS = ("departments", "resources", "service_items")
NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def value_for(column: sa.Column[Any]) -> Any:
    """One valid value of the column's type; every key is "x" or 1, so references line up."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.Float | sa.Numeric):
        return 0.0
    if isinstance(kind, sa.DateTime):
        return NOW
    if isinstance(kind, sa.Date):
        return date(2026, 12, 5)
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.LargeBinary):
        return bytes(32)
    return "x"


def tables(engine: sa.Engine) -> dict[str, sa.Table]:
    metadata = sa.MetaData()
    return {
        name: sa.Table(name, metadata, autoload_with=engine)
        for name in (*PARENTS, *APPEND_ONLY_TABLES)
    }


def seed_row(table: sa.Table) -> dict[str, Any]:
    return {column.name: value_for(column) for column in table.columns}


def tampered(table: sa.Table, row: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """The first non-key text or bytes column, the row with it rewritten, and the forged value
    as a PostgreSQL literal."""
    column = next(
        c
        for c in table.columns
        if not c.primary_key and isinstance(c.type, sa.String | sa.LargeBinary)
    )
    if isinstance(column.type, sa.LargeBinary):
        return column.name, {**row, column.name: b"\x01" * 32}, "'\\x01'::bytea"
    return column.name, {**row, column.name: "tampered"}, "'tampered'"


def seed(engine: sa.Engine) -> None:
    """One row in each append-only table (and the parents they need), as the owner."""
    with engine.begin() as connection:
        for table in tables(engine).values():
            connection.execute(sa.insert(table).values(seed_row(table)))


# -- SQLite ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("append-only") / "hub.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    seed(engine)
    engine.dispose()
    return path


def _sqlite_param(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def sqlite_attacks(table: sa.Table) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Each way of overwriting the seeded row: statement and parameters."""
    row = seed_row(table)
    column, forged, _ = tampered(table, row)
    names = ", ".join(forged)
    marks = ", ".join("?" for _ in forged)
    values = tuple(_sqlite_param(v) for v in forged.values())
    key = ", ".join(c.name for c in table.primary_key.columns)
    attacks = {
        "insert_or_replace": (
            f"INSERT OR REPLACE INTO {table.name} ({names}) VALUES ({marks})",
            values,
        ),
        "replace_into": (f"REPLACE INTO {table.name} ({names}) VALUES ({marks})", values),
        "upsert": (
            f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
            f" ON CONFLICT ({key}) DO UPDATE SET {column} = excluded.{column}",
            values,
        ),
        "update": (f"UPDATE {table.name} SET {column} = ?", (forged[column],)),
        "delete": (f"DELETE FROM {table.name}", ()),
    }
    if table.name == "audit_entries":
        # A new index, the old request id: the conflict is on the unique key alone.
        other = {**forged, "idx": 2, "request_id": "x"}
        attacks["replace_on_unique_key"] = (
            f"INSERT OR REPLACE INTO {table.name} ({names}) VALUES ({marks})",
            tuple(_sqlite_param(v) for v in other.values()),
        )
    return attacks


ATTACKS = ("insert_or_replace", "replace_into", "upsert", "update", "delete")
SQLITE_CASES = [(table, attack) for table in APPEND_ONLY_TABLES for attack in ATTACKS] + [
    ("audit_entries", "replace_on_unique_key")
]


Execute = Callable[[str, tuple[Any, ...]], object]


@contextmanager
def _bare(path: Path) -> Iterator[Execute]:
    """An attacker's own sqlite3 connection: no pragmas, autocommit."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        yield connection.execute
    finally:
        connection.close()


@contextmanager
def _hub(path: Path) -> Iterator[Execute]:
    """The hub's own engine and connection hooks."""
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            yield connection.exec_driver_sql
    finally:
        engine.dispose()


@pytest.mark.parametrize("opener", [_bare, _hub], ids=["bare-sqlite3", "hub-connection"])
@pytest.mark.parametrize(("table", "attack"), SQLITE_CASES)
def test_sqlite_refuses_every_overwrite_of_an_append_only_row(
    sqlite_seeded: Path,
    tmp_path: Path,
    table: str,
    attack: str,
    opener: Callable[[Path], AbstractContextManager[Execute]],
) -> None:
    path = tmp_path / "hub.db"
    shutil.copyfile(sqlite_seeded, path)
    engine = make_engine(f"sqlite:///{path}")
    schema = tables(engine)[table]
    engine.dispose()
    statement, parameters = sqlite_attacks(schema)[attack]
    before = _rows(path, table)

    refused = pytest.raises((sqlite3.IntegrityError, DBAPIError), match=r"append-only|immutable")
    with refused, opener(path) as execute:
        execute(statement, parameters)

    assert _rows(path, table) == before


def _rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"SELECT * FROM {table}").fetchall()
    finally:
        connection.close()


def test_the_hub_turns_recursive_triggers_on(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA recursive_triggers").scalar() == 1
    finally:
        engine.dispose()


# -- PostgreSQL ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresWorld:
    """A migrated, seeded throwaway database: the owner's URL and the serving role's."""

    owner_url: str
    serving_url: str
    role: str


def _admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        missing(f"the PostgreSQL append-only tests need {POSTGRES_ENV}")
    return url


@pytest.fixture(scope="module")
def serving_role() -> Iterator[str]:
    """A throwaway login role with no rights of its own, dropped afterwards."""
    admin = sa.create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    role = f"tongban_serving_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        yield role
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


@pytest.fixture(scope="module")
def postgres(serving_role: str) -> Iterator[PostgresWorld]:
    with throwaway_database(POSTGRES_ENV, "the PostgreSQL append-only tests") as url:
        engine = make_engine(url)
        migrate(engine, serving_role=serving_role)
        seed(engine)
        engine.dispose()
        serving_url = make_url(url).set(username=serving_role, password=None)
        yield PostgresWorld(url, serving_url.render_as_string(hide_password=False), serving_role)


def _pg_attacks(table: sa.Table) -> dict[str, str]:
    column, _, forged = tampered(table, seed_row(table))
    key = ", ".join(c.name for c in table.primary_key.columns)
    names = ", ".join(c.name for c in table.columns)
    return {
        "update": f"UPDATE {table.name} SET {column} = {forged}",
        "delete": f"DELETE FROM {table.name}",
        "truncate": f"TRUNCATE {table.name} CASCADE",
        "upsert": (
            f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {table.name}"
            f" ON CONFLICT ({key}) DO UPDATE SET {column} = {forged}"
        ),
        "alter": f"ALTER TABLE {table.name} ADD COLUMN forged integer",
        "drop": f"DROP TABLE {table.name} CASCADE",
        "disable_triggers": f"ALTER TABLE {table.name} DISABLE TRIGGER ALL",
        "drop_trigger": f"DROP TRIGGER IF EXISTS {table.name}_no_truncate ON {table.name}",
    }


PG_ATTACKS = (
    "update",
    "delete",
    "truncate",
    "upsert",
    "alter",
    "drop",
    "disable_triggers",
    "drop_trigger",
)


@pytest.mark.parametrize("attack", PG_ATTACKS)
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_the_serving_role_cannot_change_an_append_only_table(
    postgres: PostgresWorld, table: str, attack: str
) -> None:
    owner = make_engine(postgres.owner_url)
    serving = make_engine(postgres.serving_url)
    try:
        schema = tables(owner)[table]
        before = _pg_rows(owner, table)
        refused = pytest.raises(DBAPIError, match=r"permission denied|must be owner")
        with refused, serving.begin() as connection:
            connection.exec_driver_sql(_pg_attacks(schema)[attack])
        assert _pg_rows(owner, table) == before
    finally:
        serving.dispose()
        owner.dispose()


@pytest.mark.parametrize("attack", ["update", "delete", "truncate", "upsert"])
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_even_the_owner_cannot_update_delete_or_truncate_history(
    postgres: PostgresWorld, table: str, attack: str
) -> None:
    owner = make_engine(postgres.owner_url)
    try:
        schema = tables(owner)[table]
        before = _pg_rows(owner, table)
        refused = pytest.raises(DBAPIError, match=r"append-only|immutable")
        with refused, owner.begin() as connection:
            connection.exec_driver_sql(_pg_attacks(schema)[attack])
        assert _pg_rows(owner, table) == before
    finally:
        owner.dispose()


def test_the_serving_role_may_read_and_append(postgres: PostgresWorld) -> None:
    serving = make_engine(postgres.serving_url)
    try:
        with serving.connect() as connection:
            # Appended, read back, then rolled back: the test leaves the seeded rows alone.
            connection.exec_driver_sql(
                "INSERT INTO audit_checkpoints (size, root, note, signed_at)"
                " VALUES (2, '\\x00', 'note', now())"
            )
            sizes = connection.exec_driver_sql(
                "SELECT size FROM audit_checkpoints ORDER BY size"
            ).scalars()
            assert list(sizes) == [1, 2]
            connection.rollback()
    finally:
        serving.dispose()


def _pg_rows(engine: sa.Engine, table: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.exec_driver_sql(f"SELECT * FROM {table}")]


@pytest.mark.serves
def test_a_hub_serving_as_the_serving_role_answers_queries(
    serving_role: str, tmp_path: Path
) -> None:
    """Migrations and the demo as the owner, ``tongban serve`` as the serving role: the hub
    needs no right the role lacks (tokens, queries, the audit log, checkpoints)."""
    with throwaway_database(POSTGRES_ENV, "a hub serving as its own role") as url:
        build_demo(
            tmp_path, citizens=50, TONGBAN_DATABASE_URL=url, **{SERVING_ROLE_ENV: serving_role}
        )
        as_role = make_url(url).set(username=serving_role, password=None)
        env = dev_environment(TONGBAN_DATABASE_URL=as_role.render_as_string(hide_password=False))
        manifest = json.loads((tmp_path / "var/demo/demo.json").read_text("utf-8"))
        subject = next(s["id"] for s in manifest["subjects"] if s["kind"] == "has_property")
        with serving(tmp_path, env) as base:
            token = DemoHub(base, tmp_path, manifest).system_token()  # 200, or it raises
            answer = httpx.post(
                f"{base}/exchange/query",
                json={
                    "subject": {"id_type": "CN-RIC", "id": subject},
                    "purpose": "school-enrolment",
                    "attributes": ["property.certificate_no", "household.name"],
                },
                headers={"authorization": f"Bearer {token}"},
                timeout=30,
            )
            checkpoint = httpx.get(f"{base}/audit/checkpoint", timeout=30)
        assert answer.status_code == 200, answer.text
        assert "property.certificate_no" in answer.json()["attributes"]
        assert answer.json()["audit"]["index"] >= 0
        assert checkpoint.status_code == 200, checkpoint.text


def test_an_upgrade_naming_a_missing_serving_role_stops(serving_role: str) -> None:
    with throwaway_database(POSTGRES_ENV, "a misnamed serving role") as url:
        engine = make_engine(url)
        try:
            with pytest.raises(ServingRoleMisconfigured, match="does not exist"):
                migrate(engine, serving_role=f"{serving_role}_missing")
            with pytest.raises(ServingRoleMisconfigured, match="lower-case"):
                migrate(engine, serving_role="Hub; DROP TABLE audit_entries")
        finally:
            engine.dispose()
