"""Statements of the audit log's hot paths sent as text to the database driver, on the
session's own connection (so inside its transaction).

The log's batch, its proofs and the subject map read and write many small rows; SQLAlchemy's
per-statement compilation and per-row parameter processing cost more than the database's work
for them. Statements are written with ``?`` placeholders, turned into ``%s`` for the drivers
that take those (psycopg, PyMySQL); values are what the driver takes (bytes, ints, strings; a
timestamp through :func:`stored_time`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

__all__ = ["insert", "run", "stored_time"]


def run(
    session: Session, sql: str, params: tuple[Any, ...] | list[tuple[Any, ...]] = ()
) -> Sequence[Sequence[Any]]:
    """*sql* with *params* on the session's connection; its rows (none for a write). A list of
    parameter tuples is one ``executemany``."""
    connection = session.connection()
    result = connection.exec_driver_sql(_marked(sql, connection.dialect.paramstyle), params)
    return result.all() if result.returns_rows else []


def insert(
    session: Session, table: str, columns: Sequence[tuple[str, str]], rows: list[tuple[Any, ...]]
) -> None:
    """Insert *rows* (tuples in the order of *columns*, each a column's name and its PostgreSQL
    type) into *table* with one statement: on PostgreSQL ``INSERT … SELECT … FROM unnest`` of
    one array a column, whose text is the same for any number of rows (psycopg's
    ``executemany`` sends one ``Execute`` a row: a third of a batch's time there); elsewhere
    one ``executemany``."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        arrays = tuple(list(column) for column in zip(*rows, strict=True))
        run(session, _unnest_insert(table, tuple(columns)), arrays)
    else:
        run(session, _executemany_insert(table, tuple(name for name, _ in columns)), rows)


@cache
def _unnest_insert(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"CAST(%b AS {kind}[])" for _, kind in columns)  # binary: no escaping
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608


@cache
def _executemany_insert(table: str, names: tuple[str, ...]) -> str:
    marks = ", ".join("?" * len(names))
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608


def stored_time(session: Session, table: Table, column: str, moment: datetime) -> Any:
    """*moment* as the column's type binds it for the session's database (a string on SQLite,
    the ``datetime`` itself where the driver takes one): the same value the ORM would write."""
    dialect = session.get_bind().dialect
    process = _bind_processor(table, column, dialect)
    return moment if process is None else process(moment)


@cache
def _marked(sql: str, paramstyle: str) -> str:
    return sql if paramstyle == "qmark" else sql.replace("?", "%s")


def _bind_processor(table: Table, column: str, dialect: Dialect) -> Any:
    return table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
