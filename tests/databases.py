"""The tests' hub databases: worlds built once per session, and restored for each test.

A *world* is what a test's hub database holds when the test starts: ``empty`` (migrated),
``catalogue`` (the demo catalogue published at :data:`NOW`), ``demo`` (:func:`build_demo` at
:data:`NOW`: catalogue, case systems and their keys, agreements) or ``live-demo`` (the same,
built on the real clock when the session first needs it, for hubs that check real times). Each
world is built once per session (per xdist worker) and backend, then copied:

- SQLite: the built database file is copied for each test;
- PostgreSQL: the worker's one database is restored to the world's rows before each test
  (``DELETE`` with triggers and foreign keys off, then ``INSERT`` of the rows the world had, and
  every sequence set back): some 20 ms, where ``TRUNCATE`` of every table took 450 ms.

The world's data directory (``keys/<system>.jwk``, ``demo.json``) is copied with it.

Tests that only read and write through sessions can instead share one database per world that
is never committed to (:class:`RollbackDatabase`): each test runs in one outer transaction that
is rolled back, its commits releasing savepoints (SQLAlchemy's "join a session into an external
transaction" recipe).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    NullPool,
    Select,
    Table,
    create_engine,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from catalogue.publishing import publish
from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work
from exchange.demo.build import build_demo, demo_descriptors
from exchange.hub import Hub
from exchange.security.gm.profile_check import check_crypto_profile
from exchange.security.keys import HubKeys
from exchange.settings import Settings
from tests.profiles import PROFILE

__all__ = [
    "NOW",
    "WORLDS",
    "PostgresDatabase",
    "RollbackDatabase",
    "Worlds",
    "missing",
    "record_the_profile",
    "throwaway_database",
    "worker",
]

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
"""The tests' fixed clock (the ``now`` fixture), at which the ``catalogue`` and ``demo`` worlds
are built."""


def _catalogue(session: Session, _data_dir: Path) -> None:
    for descriptor in demo_descriptors():
        publish(session, descriptor, by="fixture", now=NOW)


def dev_keys() -> HubKeys:
    """The keys of the tests' dev installation (its secret is ``var/secret.key``, as the test
    hubs' is), which sign the demo agreements' terms."""
    return Hub.from_settings(Settings(mode="dev", adapters_file=None)).keys


def _demo(session: Session, data_dir: Path) -> None:
    build_demo(session, data_dir, now=NOW, keys=dev_keys())


def _live_demo(session: Session, data_dir: Path) -> None:
    build_demo(session, data_dir, now=datetime.now(UTC), keys=dev_keys())


WORLDS: dict[str, Callable[[Session, Path], None]] = {
    "empty": lambda _session, _data_dir: None,
    "catalogue": _catalogue,
    "demo": _demo,
    "live-demo": _live_demo,
}
"""How each world is built into a migrated database and its data directory."""


def record_the_profile(engine: Engine) -> None:
    """Under ``gm``, the profile recorded in a migrated database as a hub's first start
    records it (``check_crypto_profile``): the worlds are then a ``gm`` hub's databases. Under
    ``intl`` a world stays the bare migrated schema, as it always was."""
    if PROFILE == "intl":
        return
    with unit_of_work(make_sessionmaker(engine), write=True) as session:
        check_crypto_profile(session, PROFILE, record=True)


def worker() -> str:
    """This process's xdist worker id (``gw0``, ``gw1`` …), or ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def missing(reason: str) -> NoReturn:
    """Skip for a missing service or data set, but fail under CI, where it must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


@contextmanager
def throwaway_database(env: str, purpose: str) -> Iterator[str]:
    """A database made on the server at ``$env`` (PostgreSQL or MariaDB) for one use, and
    dropped afterwards; ``missing`` names ``env`` when it is unset. Its name carries the xdist
    worker's id, so parallel workers never share one."""
    admin_url = os.environ.get(env)
    if not admin_url:
        missing(f"{purpose} need {env}")
    backend = make_url(admin_url).get_backend_name()
    name = f"tongban_test_{worker()}_{uuid.uuid4().hex[:12]}"
    charset = " CHARACTER SET utf8mb4" if backend == "mysql" else ""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}{charset}"))
    url = make_url(admin_url).set(database=name)
    if backend == "mysql":
        url = url.update_query_dict({"charset": "utf8mb4"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


@dataclass(frozen=True)
class Snapshot:
    """Every row of every table of a PostgreSQL hub database, and where its sequences stood."""

    rows: dict[str, list[dict[str, Any]]]
    sequences: dict[str, tuple[int, bool]]


def _stored(table: Table) -> Select[Any]:
    """``table``'s rows without its generated columns (which the database computes again)."""
    return select(*(column for column in table.columns if column.computed is None))


class PostgresDatabase:
    """One migrated PostgreSQL hub database of this worker, restored to a world's
    :class:`Snapshot` before each test that commits to it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = create_engine(url, poolclass=NullPool)
        hub = make_engine(url)
        migrate(hub)
        record_the_profile(hub)
        hub.dispose()
        self._tables = MetaData()
        self._tables.reflect(self._engine)

    def snapshot(self) -> Snapshot:
        with self._engine.connect() as connection:
            rows = {
                name: [dict(row) for row in connection.execute(_stored(table)).mappings()]
                for name, table in self._tables.tables.items()
            }
            sequences = {
                name: (int(last), bool(called))
                for name, last, called in connection.execute(
                    text(
                        "SELECT sequencename, COALESCE(last_value, start_value), last_value"
                        " IS NOT NULL FROM pg_sequences WHERE schemaname = current_schema()"
                    )
                )
            }
        return Snapshot(rows, sequences)

    def restore(self, snapshot: Snapshot) -> None:
        """Every table holds what it held in ``snapshot``, and nothing else. A superuser's
        replica role skips triggers (the append-only tables refuse DELETE, migration 0009) and
        foreign keys for this copy only."""
        with self._engine.begin() as connection:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            for name, table in self._tables.tables.items():
                connection.execute(table.delete())
                if snapshot.rows.get(name):
                    connection.execute(table.insert(), snapshot.rows[name])
            for name, (value, called) in snapshot.sequences.items():
                connection.execute(
                    text("SELECT setval(:name, :value, :called)"),
                    {"name": name, "value": value, "called": called},
                )

    def build(self, world: str, data_dir: Path, empty: Snapshot) -> Snapshot:
        """``world`` built from ``empty`` into this database and ``data_dir``; its snapshot."""
        self.restore(empty)
        engine = make_engine(self.url)
        with unit_of_work(make_sessionmaker(engine), write=True) as session:
            WORLDS[world](session, data_dir)
        engine.dispose()
        return self.snapshot()

    def dispose(self) -> None:
        self._engine.dispose()


@dataclass
class Worlds:
    """Each world, built once per session and backend on first use (see the module doc)."""

    root: Path
    _sqlite: dict[str, Path] = field(default_factory=dict)
    _snapshots: dict[str, Snapshot] = field(default_factory=dict)

    def data_dir(self, world: str, backend: str) -> Path:
        return self.root / f"{world}-{backend}" / "demo"

    def sqlite_file(self, world: str) -> Path:
        """A SQLite hub database holding ``world``, to be copied, never opened."""
        if world not in self._sqlite:
            path = self.root / f"{world}-sqlite" / "hub.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            if world == "empty":
                engine = make_engine(f"sqlite:///{path}")
                migrate(engine)
                record_the_profile(engine)
            else:
                shutil.copyfile(self.sqlite_file("empty"), path)
                engine = make_engine(f"sqlite:///{path}")
                with unit_of_work(make_sessionmaker(engine), write=True) as session:
                    WORLDS[world](session, self.data_dir(world, "sqlite"))
            with engine.connect() as connection:  # all of it in the file, none in the WAL
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            self._sqlite[world] = path
        return self._sqlite[world]

    def snapshot(self, world: str, database: PostgresDatabase) -> Snapshot:
        """The rows of ``world`` on PostgreSQL, built in ``database`` (this worker's, migrated)
        on first use."""
        if world not in self._snapshots:
            if world == "empty":
                self._snapshots[world] = database.snapshot()
            else:
                empty = self.snapshot("empty", database)
                built = database.build(world, self.data_dir(world, "postgresql"), empty)
                self._snapshots[world] = built
        return self._snapshots[world]

    def copy_data_dir(self, world: str, backend: str, to: Path) -> Path:
        """The world's data directory (keys, ``demo.json``), copied to ``to``."""
        shutil.copytree(self.data_dir(world, backend), to)
        return to


class RollbackDatabase:
    """A database holding one world that is never committed to: each test gets sessions
    joined to an outer transaction, rolled back when the test ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)

    @contextmanager
    def sessions(self) -> Iterator[sessionmaker[Session]]:
        with self.engine.connect() as connection:
            outer = connection.begin()
            try:
                yield _joined(connection)
            finally:
                outer.rollback()

    def dispose(self) -> None:
        self.engine.dispose()


def _joined(connection: Connection) -> sessionmaker[Session]:
    """Sessions on ``connection`` whose ``commit`` releases a savepoint and whose ``rollback``
    rolls back to it, so the outer transaction decides."""
    return sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
