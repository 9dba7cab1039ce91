"""The hub's own database: engines, sessions and migrations.

SQLite is the embedded default: WAL, foreign keys on, ``synchronous=FULL`` (a commit survives
a power cut), recursive triggers on (a ``REPLACE`` that deletes a row fires the append-only
tables' DELETE triggers; migration 0009's INSERT triggers refuse it first anyway), and write
units of work that take the write lock when they begin (``BEGIN IMMEDIATE``), so concurrent
writers queue behind the busy timeout instead of failing on a stale read. The database file is
the owner's alone: its directory is created 0700 and the file 0600 before SQLite opens it, and
SQLite gives its ``-wal`` and ``-shm`` files the main file's mode. PostgreSQL by URL; a serving
role separate from the owner gets only the rights it needs (:func:`grant_serving_role`,
``docs/deployment-database.md``). Nothing is created at import time.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from exchange.files import owner_only_directory, owner_only_file
from schemas import TongbanError

__all__ = [
    "APPEND_ONLY_TABLES",
    "SERVING_ROLE_ENV",
    "ServingRoleMisconfigured",
    "grant_serving_role",
    "make_engine",
    "make_sessionmaker",
    "migrate",
    "unit_of_work",
    "upsert_insert",
]

APPEND_ONLY_TABLES = (
    "resource_versions",
    "resource_fields",
    "service_item_versions",
    "audit_entries",
    "audit_nodes",
    "audit_checkpoints",
    "audit_map_nodes",
)
"""Tables whose rows are history: the database refuses to change or delete them (migrations
0001, 0004, 0005, 0009, 0015), and a serving role may only read and append to them."""


class UnsupportedDatabase(TongbanError):
    code = "unsupported_database"
    title = "Unsupported hub database"


def upsert_insert(session: Session, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` into ``model``'s table in the dialect of the session's database, so the
    caller can add ``ON CONFLICT`` (the hub runs on SQLite or PostgreSQL, both of which have it)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise UnsupportedDatabase(f"the hub database must be SQLite or PostgreSQL, not {dialect}")


SERVING_ROLE_ENV = "TONGBAN_DB_SERVING_ROLE"
"""The PostgreSQL role the hub serves as, when it is not the role that runs the migrations."""


class ServingRoleMisconfigured(TongbanError):
    code = "serving_role_misconfigured"
    title = "The database serving role cannot be granted its rights"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the parent directory (0700) and the database file
    (0600) are made the owner's alone before SQLite opens it, and WAL is turned on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _owner_only_sqlite(parsed.database)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, in _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA recursive_triggers=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _owner_only_sqlite(database: str) -> None:
    """The database's directory 0700 if the hub makes it; the file 0600 before SQLite opens
    it, so the ``-wal`` and ``-shm`` files SQLite makes next to it get 0600 too (SQLite gives
    them the main file's mode); side files left by an older hub are tightened."""
    if database.startswith("file:"):
        return  # a URI filename: the caller chose every option
    path = Path(database)
    owner_only_directory(path.parent)
    owner_only_file(path, create=True)
    for suffix in _SQLITE_SIDE_FILES:
        owner_only_file(Path(f"{database}{suffix}"))


def _sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


_WRITE = "tongban_write"


_SQLITE_WRITERS: WeakKeyDictionary[Engine, threading.RLock] = WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """One transaction: commit when the block ends normally, roll back otherwise.

    ``write=True`` declares that the unit will write, so SQLite takes its write lock at the
    start instead of failing when a read inside the unit turns out to be stale. Writers of one
    process also queue on an in-process lock first: SQLite's busy handler sleeps in growing
    steps (1, 2, 5 … 100 ms) instead of waking when the lock frees, which under load made
    waits of hundreds of milliseconds (bench/exchange_query.py).
    """
    writer = _process_writer(factory) if write else nullcontext()
    with writer, factory() as session, session.begin():
        if write:
            session.connection(execution_options={_WRITE: True})
        yield session


def _process_writer(factory: sessionmaker[Session]) -> AbstractContextManager[object]:
    engine = factory.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return nullcontext()
    with _REGISTRY_LOCK:
        lock = _SQLITE_WRITERS.get(engine)
        if lock is None:
            lock = _SQLITE_WRITERS[engine] = threading.RLock()
    return lock


def alembic_config(engine: Engine) -> Config:
    config = Config()
    location = resources.files("exchange").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head", *, serving_role: str | None = None) -> None:
    """Bring the database schema up to ``revision``. On PostgreSQL, when a serving role is
    named (``serving_role``, else ``$TONGBAN_DB_SERVING_ROLE``) and the migrations run as
    another role, that role is then granted exactly what the hub needs
    (:func:`grant_serving_role`), tables of every migration included."""
    config = alembic_config(engine)
    config.attributes["serving_role"] = serving_role or os.environ.get(SERVING_ROLE_ENV) or None
    command.upgrade(config, revision)


_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_READ_ONLY = ("alembic_version",)
_READ_UPDATE = (
    "audit_head",  # one row, moved forward by every audit batch
    "hub_changes",  # one row per cached domain, its stamp replaced by the triggers (0017)
)


def grant_serving_role(connection: Connection, role: str) -> None:
    """PostgreSQL: let *role* serve the hub and nothing more. It may read and append to the
    append-only tables (no UPDATE, DELETE or TRUNCATE: it cannot rewrite history even where a
    trigger would let it), read and update the audit head, read the migration version, and
    read and write every other table of the schema; it owns nothing, so it can neither alter
    nor drop a table, nor disable or drop a trigger. Run by the owner, after the migrations;
    idempotent (privileges are revoked, then granted afresh)."""
    if not _ROLE_NAME.fullmatch(role):
        raise ServingRoleMisconfigured(f"{SERVING_ROLE_ENV} must be a plain lower-case role name")
    me = connection.exec_driver_sql("SELECT current_user").scalar_one()
    if me == role:
        return  # the hub itself, checking the schema is current at start: nothing to grant
    if (
        connection.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
        ).first()
        is None
    ):
        raise ServingRoleMisconfigured(f"the serving role {role!r} does not exist; create it first")
    tables = connection.execute(
        text(
            "SELECT tablename, tableowner FROM pg_tables"
            " WHERE schemaname = current_schema() ORDER BY tablename"
        )
    ).all()
    owned = [name for name, owner in tables if owner == role]
    if owned:
        raise ServingRoleMisconfigured(
            f"the serving role {role!r} owns {', '.join(owned)}; it must own nothing"
        )
    quoted = connection.dialect.identifier_preparer.quote(role)
    connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {_schema(connection)} TO {quoted}")
    for name, _owner in tables:
        table = connection.dialect.identifier_preparer.quote(name)
        connection.exec_driver_sql(f"REVOKE ALL ON {table} FROM {quoted}")
        connection.exec_driver_sql(f"GRANT {_rights(name)} ON {table} TO {quoted}")
    schema = _schema(connection)
    connection.exec_driver_sql(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {quoted}")
    connection.exec_driver_sql(
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}"
    )


def _rights(table: str) -> str:
    if table in APPEND_ONLY_TABLES:
        return "SELECT, INSERT"
    if table in _READ_ONLY:
        return "SELECT"
    if table in _READ_UPDATE:
        return "SELECT, UPDATE"
    return "SELECT, INSERT, UPDATE, DELETE"


def _schema(connection: Connection) -> str:
    name = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
    return str(connection.dialect.identifier_preparer.quote(name))
