"""SQL sources through SQLAlchemy Core: SQLite, PostgreSQL (psycopg 3), MySQL/MariaDB (PyMySQL),
and any other dialect SQLAlchemy reaches by URL.

Read-only on every backend (SQLite opened ``mode=ro``; PostgreSQL sessions
``default_transaction_read_only``; MySQL sessions ``READ ONLY``). Queries are built from the
mapping with quoted identifiers and bound parameters only, and select just the columns of the
requested fields. The pool is small and bounded; connect and statement timeouts come from the
connection settings, and SQLite statements are interrupted at the deadline by a progress
handler. The mapping is checked against the live schema when the adapter is opened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, Select, bindparam, create_engine, event, inspect, select, text
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import URL, make_url
from sqlalchemy.sql import column, table
from sqlalchemy.sql.expression import ColumnClause, Label, TableClause

from adapters.base import (
    AS_OF,
    KEY,
    WATERMARK,
    AdapterLimits,
    ColumnDescription,
    RawRow,
    SourceAdapter,
    SourceDescription,
    TableDescription,
)
from adapters.errors import MappingError
from adapters.mapping import SourceMapping

__all__ = ["SqlAdapter", "SqlConnection"]


@dataclass(frozen=True)
class SqlConnection:
    """Connection settings of one legacy database (from secret configuration, never a mapping)."""

    url: str
    pool_size: int = 4
    connect_timeout_s: float = 3.0

    def render_safe(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)


_MAX_LOOKUPS = 256
"""Lookup statements an adapter keeps, one per combination of fields asked (built once)."""


class SqlAdapter(SourceAdapter):
    kind = "sql"

    def __init__(
        self,
        name: str,
        mapping: SourceMapping,
        connection: SqlConnection,
        *,
        limits: AdapterLimits | None = None,
        field_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(name, mapping, limits=limits, field_schemas=field_schemas)
        if mapping.table is None or mapping.key.column is None:
            raise MappingError(name, "an SQL mapping names its table and key column")
        if mapping.key_split is not None:
            raise MappingError(name, "key_split is for files and HTTP; use a view, one row a key")
        self._engine = _read_only_engine(connection, self.limits)
        # A local SQLite file is read on the caller's thread: its statements are interrupted at
        # the deadline (the progress handler), and its pool and busy waits end by then too.
        self.reads_inline = self._engine.dialect.name == "sqlite"
        self._lookups: dict[tuple[str, ...], Select[Any]] = {}
        self._table = _table_clause(mapping)
        self._key = self._table.c[mapping.key.column]
        self._reflected: dict[str, object] = {}

    @classmethod
    def from_config(
        cls,
        name: str,
        mapping: SourceMapping,
        config: Mapping[str, Any],
        *,
        limits: AdapterLimits | None = None,
        field_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> SqlAdapter:
        connection = SqlConnection(
            url=str(config["url"]),
            pool_size=int(config.get("pool_size", 4)),
            connect_timeout_s=float(config.get("connect_timeout_s", 3.0)),
        )
        return cls(name, mapping, connection, limits=limits, field_schemas=field_schemas)

    # -- implementation ----------------------------------------------------------------------

    def _fetch(self, subject: str, fields: Sequence[str]) -> list[RawRow]:
        statement = self._lookups.get(tuple(fields))
        if statement is None:
            statement = select(*self._columns(fields)).where(self._key == bindparam("subject"))
            statement = statement.limit(self.row_cap)
            if len(self._lookups) < _MAX_LOOKUPS:  # one per combination of fields asked
                self._lookups[tuple(fields)] = statement
        with _deadline(self.limits.timeout_s), self._engine.connect() as connection:
            rows = connection.execute(statement, {"subject": subject})
            return [dict(row._mapping) for row in rows]

    def _changes(self, since: str | None, fields: Sequence[str]) -> Iterator[RawRow]:
        mark = self.mapping.watermark
        if mark is None or mark.column is None:
            raise MappingError(self.name, "the mapping has no watermark column for changes")
        watermark = self._table.c[mark.column]
        statement = select(
            *self._columns(fields), self._key.label(KEY), watermark.label(WATERMARK)
        ).order_by(watermark, self._key)
        if since is not None:
            statement = statement.where(watermark > self._watermark_value(mark.column, since))
        with self._engine.connect() as connection:
            result = connection.execution_options(
                stream_results=True, yield_per=self.limits.stream_batch_rows
            ).execute(statement)
            for row in result:
                yield dict(row._mapping)

    def _watermark_value(self, name: str, since: str) -> object:
        """``since`` as the Python type of the watermark column, so every driver compares it."""
        kind = self._watermark_type(name)
        if isinstance(kind, sqltypes.DateTime):
            return datetime.fromisoformat(since)
        if isinstance(kind, sqltypes.Date):
            return date.fromisoformat(since)
        if isinstance(kind, sqltypes.Integer):
            return int(since)
        return since

    def _watermark_type(self, name: str) -> object:
        """The watermark column's reflected type, looked up once per adapter."""
        if name not in self._reflected:
            assert self.mapping.table is not None  # noqa: S101 - checked in __init__
            schema, _, table_name = self.mapping.table.rpartition(".")
            columns = inspect(self._engine).get_columns(table_name, schema=schema or None)
            found = (c["type"] for c in columns if c["name"].lower() == name.lower())
            self._reflected[name] = next(found, None)
        return self._reflected[name]

    def _describe(self) -> SourceDescription:
        inspector = inspect(self._engine)
        tables = []
        for name in sorted(inspector.get_table_names() + inspector.get_view_names()):
            columns = tuple(
                ColumnDescription(c["name"], str(c["type"]), bool(c.get("nullable", True)))
                for c in inspector.get_columns(name)
            )
            tables.append(TableDescription(name, columns))
        return SourceDescription(self.name, tuple(tables))

    def _health(self) -> None:
        with _deadline(self.limits.timeout_s), self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def _close(self) -> None:
        self._engine.dispose()

    def _columns(self, fields: Sequence[str]) -> list[Label[Any]]:
        chosen: list[Label[Any]] = []
        for name in fields:
            source = self.mapping.fields[name].locator.column
            assert source is not None  # noqa: S101 - SQL mappings locate fields by column
            chosen.append(self._table.c[source].label(name))
        if self.mapping.as_of is not None and self.mapping.as_of.column is not None:
            chosen.append(self._table.c[self.mapping.as_of.column].label(AS_OF))
        return chosen


def _mapped_columns(mapping: SourceMapping) -> list[str]:
    locators = mapping.locators()
    if any(loc.column is None for loc in locators):
        raise MappingError(mapping.name, "an SQL mapping locates every value by column")
    return [loc.column for loc in locators if loc.column is not None]


def _table_clause(mapping: SourceMapping) -> TableClause:
    assert mapping.table is not None  # noqa: S101 - checked by the caller
    schema, _, name = mapping.table.rpartition(".")
    columns: list[ColumnClause[Any]] = [column(c) for c in dict.fromkeys(_mapped_columns(mapping))]
    return table(name, *columns, schema=schema or None)


_LOCAL = threading.local()


class _deadline:  # noqa: N801 - used as a context manager, reads like a statement
    """Sets a per-thread deadline that the SQLite progress handler enforces."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        _LOCAL.deadline = time.monotonic() + self.seconds

    def __exit__(self, *_: object) -> None:
        _LOCAL.deadline = None


def _past_deadline() -> int:
    deadline = getattr(_LOCAL, "deadline", None)
    return 1 if deadline is not None and time.monotonic() > deadline else 0


def _read_only_engine(connection: SqlConnection, limits: AdapterLimits) -> Engine:
    url = make_url(connection.url)
    backend = url.get_backend_name()
    pool = {"pool_size": connection.pool_size, "max_overflow": 0, "pool_pre_ping": True}
    timeout_ms = int(limits.timeout_s * 1000)
    if backend == "sqlite":
        engine = create_engine(
            _sqlite_read_only(url),
            connect_args={"timeout": limits.timeout_s},  # SQLite's busy wait
            pool_size=connection.pool_size,
            max_overflow=0,
            pool_timeout=limits.timeout_s,
        )
        event.listen(engine, "connect", _sqlite_session)
        return engine
    if backend == "postgresql":
        options = f"-c statement_timeout={timeout_ms} -c default_transaction_read_only=on"
        args: dict[str, Any] = {"connect_timeout": max(1, int(connection.connect_timeout_s))}
        args["options"] = options
        return create_engine(url, connect_args=args, pool_timeout=limits.timeout_s, **pool)
    if backend in {"mysql", "mariadb"}:
        seconds = max(1, int(limits.timeout_s + 1))
        args = {
            "connect_timeout": max(1, int(connection.connect_timeout_s)),
            "read_timeout": seconds,
            "write_timeout": seconds,
            "init_command": "SET SESSION TRANSACTION READ ONLY",
        }
        return create_engine(url, connect_args=args, pool_timeout=limits.timeout_s, **pool)
    return create_engine(url, pool_timeout=limits.timeout_s, **pool)


def _sqlite_read_only(url: URL) -> str:
    database = url.database or ""
    if database in {"", ":memory:"}:
        raise MappingError("sql", "an SQLite source must be a file")
    return f"sqlite:///file:{database}?mode=ro&uri=true"


def _sqlite_session(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.set_progress_handler(_past_deadline, 1000)
