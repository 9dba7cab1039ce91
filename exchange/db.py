"""The hub's own database: engines, sessions and migrations.

SQLite is the embedded default: WAL, foreign keys on, ``synchronous=FULL`` (a commit survives
a power cut), and write units of work that take the write lock when they begin
(``BEGIN IMMEDIATE``), so concurrent writers queue behind the busy timeout instead of failing
on a stale read. PostgreSQL by URL. Nothing is created at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["make_engine", "make_sessionmaker", "migrate", "unit_of_work"]


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the parent directory is created and WAL turned on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
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
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


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


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    command.upgrade(alembic_config(engine), revision)
