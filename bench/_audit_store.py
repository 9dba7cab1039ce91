"""The audit log's storage for the benchmark (:mod:`bench.audit_log`): synthetic entries and the
rows the log stores for them, the complete-subtree rows of a tree built in memory, fresh hub
databases, a bare-driver connection, and a bulk loader that writes what the log would write.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
from sqlalchemy import (
    Column,
    Engine,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
    insert,
    text,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from bench._common import driver_conninfo, throwaway_postgres
from exchange.audit import merkle
from exchange.audit.canonical import canonical_json
from exchange.audit.checkpoint import NoteVerifier
from exchange.audit.log import entry_row
from exchange.audit.models import AuditHead, AuditRecord
from exchange.audit.verify import PAGE
from exchange.audit.verify_entries import node_ranges
from exchange.db import make_engine, make_sessionmaker, migrate
from schemas import AuditEntry

SEED = 20261123
ENTRY_CHUNK = 20_000  # entries per executemany / COPY statement
PLAIN_TABLE = "bench_plain_entries"

# --------------------------------------------------------------------------------------------
# Synthetic entries and the rows the log stores for them
# --------------------------------------------------------------------------------------------

RESOURCES = {
    "household": "PSB-HJ-0001",
    "property": "REG-BDC-0001",
    "social_insurance": "HRSS-SB-0001",
    "dibao": "MCA-DB-0001",
    "marriage": "MCA-HY-0001",
}
SYSTEMS = (
    (
        "edu-enrolment",
        "EDU",
        "school-enrolment",
        "EDU-RXDJ-001",
        "《中华人民共和国义务教育法》第十二条",
        (
            "household.name",
            "household.birth_date",
            "household.registered_address",
            "household.division",
            "household.relation_to_head",
            "property.certificate_no",
            "property.address",
            "property.division",
            "social_insurance.status",
            "social_insurance.months_paid",
        ),
    ),
    (
        "mca-dibao",
        "MCA",
        "minimum-living-allowance",
        "MCA-DBSQ-001",
        "《社会救助暂行办法》第十一条",
        (
            "household.name",
            "household.registered_address",
            "household.relation_to_head",
            "marriage.status",
            "dibao.status",
            "property.certificate_no",
            "social_insurance.months_paid",
        ),
    ),
)
AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def synthetic_entry(n: int) -> dict[str, Any]:
    """Entry *n*: deterministic, unique request id, shaped like the pipeline's entries."""
    digest = hashlib.sha256(f"{SEED}:{n}".encode()).digest()
    system, department, purpose, item, basis, attributes = SYSTEMS[digest[0] % len(SYSTEMS)]
    asked = attributes[: 3 + digest[1] % (len(attributes) - 2)]
    audited: dict[str, dict[str, Any]] = {}
    for position, attribute in enumerate(asked):
        roll = digest[2 + position] % 10
        one: dict[str, Any] = {
            "outcome": "released",
            "resource": RESOURCES[attribute.partition(".")[0]],
            "version": 1 + digest[12] % 3,
            "rules": ["sharing.unconditional"],
            "release": "clear",
            "legal_basis": basis,
        }
        if roll >= 6:
            one["rules"] = ["sharing.conditional", f"agreement:AG-DEMO-{department}-0001"]
            one["agreement"] = f"AG-DEMO-{department}-0001"
        if roll == 9:
            one.update(outcome="denied", rules=["default.deny"], reason="not_granted")
            del one["release"]
        audited[attribute] = one
    outcomes = {a["outcome"] for a in audited.values()}
    overall = "released" if outcomes == {"released"} else "partial"
    if "released" not in outcomes:
        overall = "denied"
    return {
        "v": 1,
        "kind": "verify" if digest[13] % 10 == 0 else "query",
        "request_id": str(uuid.UUID(bytes=digest[14:30], version=4)),
        "at": (AT + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z"),
        "system": system,
        "department": department,
        "officer": f"{department}-{digest[30] % 50:04d}",
        "subject": hashlib.sha256(b"subject" + digest).hexdigest(),
        "purpose": purpose,
        "service_item": item,
        "consent": None,
        "attributes": audited,
        "outcome": overall,
    }


def record_row(index: int, entry: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The ``audit_entries`` row the log writes for *entry* at *index*
    (``exchange.audit.log.entry_row``; checked against the log's own rows in every run)."""
    data = canonical_json(entry)
    return entry_row(index, cast(AuditEntry, entry), data, merkle.leaf_hash(data), now)


ENTRIES: Table = AuditRecord.metadata.tables["audit_entries"]
ENTRY_COLUMNS = tuple(ENTRIES.c.keys())


def synthetic_leaf(n: int) -> bytes:
    """The leaf hash of proof-tree leaf *n* (no entry row behind it)."""
    return merkle.leaf_hash(b"bench-leaf-%d" % n)


class TreeBuilder:
    """The ``audit_nodes`` rows the log stores, for leaves appended in order: each leaf and
    every subtree it completes (``merkle.completed_nodes``), from a compact range in memory."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []  # complete subtrees of [0, size), largest first

    def add(self, leaf: bytes, rows: list[tuple[int, int, bytes]]) -> None:
        value = leaf
        for level, index in merkle.completed_nodes(self.size):
            if level:
                value = merkle.node_hash(self._stack.pop(), value)
            rows.append((level, index, value))
        self._stack.append(value)
        self.size += 1

    def root(self) -> bytes:
        return merkle.combine(self._stack) if self._stack else merkle.EMPTY_ROOT


# --------------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------------


@dataclass
class Database:
    """One migrated hub database: its engine, sessions, and where the bare driver finds it."""

    backend: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    path: Path | None  # the SQLite file

    def driver(self) -> Driver:
        return Driver(self)

    def size_bytes(self) -> int:
        if self.path is not None:
            wal = self.path.with_name(self.path.name + "-wal")
            return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        with self.engine.connect() as connection:
            return int(connection.scalar(text("SELECT pg_database_size(current_database())")))

    def tidy(self, *tables: str) -> None:
        """What a running server would have done after a bulk load: statistics and the
        visibility map (PostgreSQL), or the WAL folded into the database file (SQLite)."""
        if self.path is not None:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return
        with psycopg.connect(driver_conninfo(self.url), autocommit=True) as connection:
            for table in tables:
                connection.execute(f"VACUUM ANALYZE {table}")  # a constant table name

    def free_bytes(self) -> int | None:
        """Free space where the data goes; None when PostgreSQL's data directory is not
        readable from here."""
        if self.path is not None:
            return shutil.disk_usage(self.path.parent).free
        try:
            with self.engine.connect() as connection:
                directory = connection.scalar(text("SHOW data_directory"))
            return shutil.disk_usage(str(directory)).free
        except Exception:  # noqa: BLE001 - no privilege or another machine's path: unknown
            return None


@contextmanager
def hub_database(
    backend: str, purpose: str, postgres_url: str | None, workdir: Path
) -> Iterator[Database]:
    """A fresh, migrated hub database for one phase; dropped (PostgreSQL) afterwards."""
    if backend == "sqlite":
        path = workdir / f"{purpose}.db"
        yield from _opened(backend, f"sqlite:///{path}", path)
        return
    if postgres_url is None:
        raise ValueError("a PostgreSQL URL is required")
    with throwaway_postgres(postgres_url, f"tongban_bench_audit_{purpose}_{os.getpid()}") as url:
        yield from _opened(backend, url, None)


def _opened(backend: str, url: str, path: Path | None) -> Iterator[Database]:
    engine = make_engine(url)
    try:
        migrate(engine)
        yield Database(backend, url, engine, make_sessionmaker(engine), path)
    finally:
        engine.dispose()


class Driver:
    """A bare DB-API connection to the hub database: ``sqlite3``, or ``psycopg`` in autocommit.
    Statements use ``?`` placeholders."""

    def __init__(self, database: Database) -> None:
        self.backend = database.backend
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[tuple[Any, ...]] | None = None
        if database.path is not None:
            self._sqlite = sqlite3.connect(database.path, isolation_level=None)
        else:
            self._pg = psycopg.connect(driver_conninfo(database.url), autocommit=True)
        self._texts: dict[str, str] = {}

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._sqlite is not None:
            return self._sqlite.execute(sql, params).fetchall()
        assert self._pg is not None
        found = self._texts.get(sql)
        if found is None:
            found = self._texts[sql] = sql.replace("?", "%s")
        return self._pg.execute(found, params).fetchall()

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            self._pg.close()


class BulkLoader:
    """Writes rows straight into the hub database in big transactions: ``executemany`` on
    SQLite, ``COPY`` on PostgreSQL. Only appends, as the log does; the head is set last."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def nodes(self, rows: Sequence[tuple[int, int, bytes]]) -> None:
        if self._database.path is not None:
            with self._database.engine.begin() as connection:
                connection.exec_driver_sql(
                    "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", list(rows)
                )
            return
        with psycopg.connect(driver_conninfo(self._database.url)) as connection:
            cursor = connection.cursor()
            with cursor, cursor.copy("COPY audit_nodes (level, idx, hash) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            connection.commit()

    def entries(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if self._database.path is not None:
            with self._database.engine.begin() as connection:
                for start in range(0, len(rows), ENTRY_CHUNK):
                    connection.execute(insert(ENTRIES), list(rows[start : start + ENTRY_CHUNK]))
            return
        columns = ", ".join(ENTRY_COLUMNS)
        with psycopg.connect(driver_conninfo(self._database.url)) as connection:
            cursor = connection.cursor()
            with cursor, cursor.copy(f"COPY audit_entries ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row[c] for c in ENTRY_COLUMNS))
            connection.commit()

    def head(self, size: int, root: bytes) -> None:
        with self._database.engine.begin() as connection:
            connection.execute(
                update(AuditHead)
                .where(AuditHead.id == 1)
                .values(size=size, root=root, updated_at=datetime.now(UTC))
            )


def plain_table() -> Table:
    """``bench_plain_entries``: ``audit_entries``'s columns, key, unique constraints and
    indexes (renamed), and no triggers, nodes or head."""
    source = ENTRIES
    table = Table(
        PLAIN_TABLE,
        MetaData(),
        *(
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in source.columns
        ),
    )
    for constraint in source.constraints:
        if isinstance(constraint, UniqueConstraint):
            table.append_constraint(UniqueConstraint(*(c.name for c in constraint.columns)))
    for index in source.indexes:
        Index(f"{PLAIN_TABLE}_{index.name}", *(table.c[c.name] for c in index.columns))
    return table


# --------------------------------------------------------------------------------------------
# Bare-driver reading: verify_log's statements and checks without the ORM
# --------------------------------------------------------------------------------------------

HEAD_SQL = "SELECT id, size, root, updated_at FROM audit_head WHERE id = ?"
ENTRY_PAGE_SQL = (
    f"SELECT {', '.join(ENTRY_COLUMNS)} FROM audit_entries"  # noqa: S608 - the model's columns
    " WHERE idx >= ? ORDER BY idx LIMIT ?"
)
NODE_RANGE_SQL = "SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx <= ?"
CHECKPOINTS_SQL = "SELECT size, root, note, signed_at FROM audit_checkpoints ORDER BY size"
_ENTRY_IDX, _ENTRY_TEXT, _ENTRY_LEAF = (
    ENTRY_COLUMNS.index("idx"),
    ENTRY_COLUMNS.index("entry"),
    ENTRY_COLUMNS.index("leaf_hash"),
)


def verify_floor(driver: Driver, verifier: NoteVerifier) -> tuple[int, int]:
    """``verify_log``'s statements and checks with the bare driver: entries and nodes checked;
    raises AssertionError where ``verify_log`` would report a problem."""
    ((_, size, head_root, _),) = driver.all(HEAD_SQL, (1,))
    wanted = {int(row[0]) for row in driver.all(CHECKPOINTS_SQL)}
    roots: dict[int, bytes] = {}
    stack: list[tuple[int, bytes]] = []
    expected = nodes = 0
    for start in range(0, max(size, 1) + PAGE, PAGE):
        page = driver.all(ENTRY_PAGE_SQL, (start, PAGE))
        if not page:
            break
        stored = _floor_nodes(driver, start, start + PAGE)
        for row in page:
            if row[_ENTRY_IDX] != expected or expected >= size:
                raise AssertionError(f"entry {expected} is missing, out of order or beyond")
            leaf = merkle.leaf_hash(row[_ENTRY_TEXT].encode("utf-8"))
            if leaf != bytes(row[_ENTRY_LEAF]):
                raise AssertionError(f"entry {expected} does not match its leaf hash")
            level, value = 0, leaf
            while True:
                if stored.get((level, expected >> level)) != value:
                    raise AssertionError(f"a node of entry {expected} is not the recomputed one")
                nodes += 1
                if not stack or stack[-1][0] != level:
                    stack.append((level, value))
                    break
                _, left = stack.pop()
                level, value = level + 1, merkle.node_hash(left, value)
            expected += 1
            if expected in wanted:
                roots[expected] = merkle.combine([v for _, v in stack])
    root = merkle.combine([v for _, v in stack]) if stack else merkle.EMPTY_ROOT
    if expected != size or root != bytes(head_root):
        raise AssertionError("the head is not the entries' tree")
    for checkpoint_size, checkpoint_root, note, _ in driver.all(CHECKPOINTS_SQL):
        signed = verifier.verify(note)
        if (signed.size, signed.root) != (checkpoint_size, bytes(checkpoint_root)):
            raise AssertionError(f"the checkpoint at {checkpoint_size} differs from its note")
        if roots.get(checkpoint_size) != signed.root:
            raise AssertionError(f"the checkpoint at {checkpoint_size} has another root")
    return expected, nodes


def _floor_nodes(driver: Driver, start: int, end: int) -> dict[tuple[int, int], bytes]:
    """As ``exchange.audit.verify_entries._nodes_ending_in``: per level, the nodes whose last
    leaf falls in [start, end)."""
    found: dict[tuple[int, int], bytes] = {}
    for level, low, high in node_ranges(start, end):
        for index, value in driver.all(NODE_RANGE_SQL, (level, low, high)):
            found[(level, int(index))] = bytes(value)
    return found
