"""The witness's state: for each log, the latest checkpoint it cosigned, kept so that it never
cosigns a checkpoint that does not extend it.

SQLAlchemy Core with a metadata of its own (the witness shares nothing with a hub's database):
an SQLite file by default, any SQLAlchemy URL (PostgreSQL) otherwise; the tables are created on
first start, with a schema-version row that a later witness checks before it touches them.

- ``witness_checkpoints``: one row per log (keyed by the lowercase hex SHA-256 of its origin,
  as the monitoring URL names it): the size and root of the latest cosigned checkpoint, the
  note as the witness serves it (the log's verified signatures and its own cosignature), the
  cosignature's time.
- ``witness_evidence``: checkpoints the log signed that the witness refused as inconsistent
  with its latest (tlog-witness allows keeping them "as it might be proof of log
  misbehavior"), once per distinct request, with the witness's latest note at that moment.
- ``witness_schema``: the schema version.

Compare-and-swap: :meth:`WitnessState.advancing` is one write transaction that reads the log's
row first under a write lock (``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on
PostgreSQL), so a second request for the same log waits until the first has committed and then
sees its size. The update itself is conditional on the size and root read (``UPDATE … WHERE
size = ? AND root = ?``, one row or a conflict), and a first row that a concurrent request
inserted first is a conflict too: the state never moves back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from exchange.files import owner_only_directory, owner_only_file
from exchange.witness.errors import OldSizeMismatch, WitnessStateError

__all__ = ["SCHEMA_VERSION", "Held", "StateStep", "WitnessState", "origin_hash", "state_url"]

SCHEMA_VERSION = 1
_WRITE = "tongban_witness_write"

metadata = MetaData()

schema_table = Table(
    "witness_schema",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
)

checkpoints_table = Table(
    "witness_checkpoints",
    metadata,
    Column("origin_hash", String(64), primary_key=True),
    Column("origin", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("cosigned_at", BigInteger, nullable=False),
)

evidence_table = Table(
    "witness_evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin_hash", String(64), nullable=False),
    Column("origin", Text, nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of the refused request
    Column("received_at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("old_size", BigInteger, nullable=False),
    Column("proof", Text, nullable=False),  # the request's proof lines, base64
    Column("note", Text, nullable=False),  # the refused checkpoint, as the log signed it
    Column("held_note", Text, nullable=True),  # the witness's latest cosigned note then
    UniqueConstraint("origin_hash", "digest"),
)


def origin_hash(origin: str) -> str:
    """The lowercase hex SHA-256 of *origin*: the log's key here and in the monitoring URL."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Held:
    """The latest checkpoint the witness cosigned for one log."""

    origin: str
    size: int
    root: bytes
    note: str
    cosigned_at: int


@dataclass(frozen=True)
class Evidence:
    """A checkpoint the log signed that the witness refused as inconsistent."""

    origin: str
    digest: str
    received_at: int
    reason: str
    old_size: int
    proof: str
    note: str
    held_note: str | None


class StateStep:
    """One log's row inside a write transaction: what it held when the transaction began, and
    the one move the transaction may make."""

    def __init__(self, connection: Connection, origin: str) -> None:
        self._connection = connection
        self.origin = origin
        self._key = origin_hash(origin)
        self.held = _held(connection, self._key, lock=True)

    @property
    def size(self) -> int:
        """The size of the latest cosigned checkpoint; 0 when there is none."""
        return self.held.size if self.held is not None else 0

    def advance(self, size: int, root: bytes, note: str, cosigned_at: int) -> None:
        """Hold this checkpoint from now on, if the row is still what it was when the
        transaction began (else :class:`OldSizeMismatch`, and the caller's transaction rolls
        back)."""
        values = {"size": size, "root": root, "note": note, "cosigned_at": cosigned_at}
        if self.held is None:
            row = {"origin_hash": self._key, "origin": self.origin, **values}
            self._connection.execute(insert(checkpoints_table).values(**row))
            return
        table = checkpoints_table.c
        moved = self._connection.execute(
            update(checkpoints_table)
            .where(
                table.origin_hash == self._key,
                table.size == self.held.size,
                table.root == self.held.root,
            )
            .values(**values)
        )
        if moved.rowcount != 1:
            current = _held(self._connection, self._key, lock=False)
            raise OldSizeMismatch(current.size if current is not None else 0)

    def record_evidence(self, evidence: Evidence) -> None:
        """Keep a refused checkpoint the log signed, once per distinct request."""
        exists = self._connection.execute(
            select(evidence_table.c.id).where(
                evidence_table.c.origin_hash == self._key,
                evidence_table.c.digest == evidence.digest,
            )
        ).first()
        if exists is not None:
            return
        row = {"origin_hash": self._key, **evidence.__dict__}
        try:
            with self._connection.begin_nested():
                self._connection.execute(insert(evidence_table).values(**row))
        except IntegrityError:
            return  # the same request, recorded by a concurrent one


class WitnessState:
    """The state database of one witness."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, target: str) -> WitnessState:
        """The state at *target* (a file path or an SQLAlchemy URL), created if new."""
        state = cls(_engine(state_url(target)))
        try:
            state._prepare()
        except BaseException:
            state.close()
            raise
        return state

    def close(self) -> None:
        self.engine.dispose()

    def latest(self, key: str) -> Held | None:
        """The latest cosigned checkpoint of the log whose origin hash is *key*."""
        with self._transaction(write=False) as connection:
            return _held(connection, key, lock=False)

    def evidence(self) -> list[Evidence]:
        """Every refused checkpoint kept as evidence, oldest first."""
        columns = [evidence_table.c[name] for name in Evidence.__dataclass_fields__]
        with self._transaction(write=False) as connection:
            rows = connection.execute(select(*columns).order_by(evidence_table.c.id))
            return [Evidence(**row._asdict()) for row in rows]

    def ping(self) -> None:
        with self._transaction(write=False) as connection:
            connection.execute(text("SELECT 1"))

    @contextmanager
    def advancing(self, origin: str) -> Iterator[StateStep]:
        """One write transaction on *origin*'s row: committed when the block ends normally,
        rolled back when it raises. A first row inserted meanwhile by a concurrent request
        is answered as the conflict it is."""
        try:
            with self._transaction(write=True) as connection:
                yield StateStep(connection, origin)
        except IntegrityError:
            current = self.latest(origin_hash(origin))
            raise OldSizeMismatch(current.size if current is not None else 0) from None

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            if write:
                connection.execution_options(**{_WRITE: True})
            with connection.begin():
                yield connection

    def _prepare(self) -> None:
        metadata.create_all(self.engine)
        with self._transaction(write=True) as connection:
            versions = list(connection.execute(select(schema_table.c.version)).scalars())
            if not versions:
                connection.execute(insert(schema_table).values(version=SCHEMA_VERSION))
            elif versions != [SCHEMA_VERSION]:
                raise WitnessStateError(
                    f"the witness state has schema version {max(versions)}; "
                    f"this witness knows version {SCHEMA_VERSION}"
                )


def _held(connection: Connection, key: str, *, lock: bool) -> Held | None:
    table = checkpoints_table.c
    query = select(table.origin, table.size, table.root, table.note, table.cosigned_at).where(
        table.origin_hash == key
    )
    row = connection.execute(query.with_for_update() if lock else query).first()
    if row is None:
        return None
    return Held(row.origin, int(row.size), bytes(row.root), row.note, int(row.cosigned_at))


def state_url(target: str) -> str:
    """An SQLAlchemy URL as given, or the SQLite URL of a file path."""
    if "://" in target:
        return target
    return f"sqlite:///{Path(target).expanduser().absolute()}"


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database
    if not database or database == ":memory:" or "mode=memory" in str(parsed.query):
        raise WitnessStateError("an in-memory state forgets every checkpoint; name a file")
    if not database.startswith("file:"):
        path = Path(database)
        owner_only_directory(path.parent)
        owner_only_file(path, create=True)
        for suffix in ("-wal", "-shm", "-journal"):
            owner_only_file(Path(f"{database}{suffix}"))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL, a commit that survives a power cut, and a 30 s wait for the write lock."""
    dbapi_connection.isolation_level = None  # BEGIN is ours, in _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """A write transaction takes SQLite's write lock when it begins: the row it reads first
    cannot change before it commits."""
    write = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
