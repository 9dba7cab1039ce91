"""Legacy sources for the adapter contract suite: the same person records in every shape.

``legacy`` runs a test once per source: SQLite, PostgreSQL and MariaDB (a throwaway database
each), a GBK CSV export, a GBK fixed-width export, and a JSON API on 127.0.0.1. Each
:class:`LegacySource` carries its mapping, its adapter configuration, and how to make it slow
(slower than its timeout) or down. ``sql_legacy`` runs the tests that only mean something for SQL.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    select,
    table,
    text,
)

from tests.adapters.sources import (
    BAD_CODE,
    CSV_MAPPING,
    FIELD_SCHEMAS,
    FIXED_WIDTH_MAPPING,
    GOOD,
    LINE_BYTES,
    MAPPING,
    NEGATIVE,
    ROWS,
    SECRET,
    SENTINEL,
    TWICE,
    UNDECODABLE,
    LegacyApi,
    http_mapping,
    write_exports,
)
from tests.conftest import MARIADB_ENV, POSTGRES_ENV, throwaway_database

__all__ = [
    "BAD_CODE",
    "FIELD_SCHEMAS",
    "GOOD",
    "MAPPING",
    "NEGATIVE",
    "ROWS",
    "SENTINEL",
    "TWICE",
    "UNDECODABLE",
    "LegacySource",
    "Variant",
]

SQL_BACKENDS = ["sqlite", "postgresql", "mariadb"]
SOURCES = [*SQL_BACKENDS, "csv", "fixed_width", "http"]


@dataclass(frozen=True)
class Variant:
    """Changes to a source's mapping document and its adapter configuration."""

    mapping: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


def _nothing() -> None:
    """Nothing to release."""


@dataclass(frozen=True)
class LegacySource:
    """One legacy source of the person records, and how to make it misbehave."""

    backend: str
    mapping: dict[str, Any]
    config: dict[str, Any]
    slow: Variant
    down: Variant
    refused: tuple[tuple[dict[str, Any], str], ...]
    table: str
    columns: frozenset[str]
    intact: Callable[[str], None]
    release: Callable[[], None] = _nothing

    @property
    def adapter(self) -> str:
        return str(self.mapping["adapter"])


# -- SQL ----------------------------------------------------------------------------------------


def _person_table(metadata: MetaData) -> Table:
    return Table(
        "T_PERSON",
        metadata,
        Column("GMSFHM", String(18), index=True),
        Column("XM", LargeBinary(60)),
        Column("XB", String(1)),
        Column("CSRQ", String(8)),
        Column("HJDZ", String(200)),
        Column("JFYS", Integer),
        Column("GXSJ", DateTime),
        Column("BZ", String(100)),
    )


def _slow_view(backend: str) -> str:
    if backend == "postgresql":
        return 'CREATE VIEW "T_SLOW" AS SELECT p.* FROM "T_PERSON" p, (SELECT pg_sleep(5)) s'
    if backend == "mariadb":
        return "CREATE VIEW T_SLOW AS SELECT p.* FROM T_PERSON p WHERE SLEEP(5) = 0"
    return (
        "CREATE VIEW T_SLOW AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c"
        " WHERE x < 300000000) SELECT p.* FROM T_PERSON p, (SELECT max(x) FROM c)"
    )


def _populate(url: str, backend: str) -> None:
    engine = create_engine(url)
    metadata = MetaData()
    person = _person_table(metadata)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(person.insert(), ROWS)
        connection.execute(text(_slow_view(backend)))
    engine.dispose()


def _sql_source(backend: str, url: str) -> LegacySource:
    def intact(_: str) -> None:
        engine = create_engine(url)
        with engine.connect() as connection:
            count = connection.execute(select(func.count()).select_from(table("T_PERSON")))
            assert count.scalar() == len(ROWS)
        engine.dispose()

    if backend == "sqlite":
        down_url = "sqlite:////nonexistent/dir/psb.db"
    else:
        down_url = url.replace("127.0.0.1:5432", "127.0.0.1:1").replace(
            "127.0.0.1:3306", "127.0.0.1:1"
        )
    missing_column = {"fields": {**MAPPING["fields"], "ethnicity": {"column": "MZ"}}}
    return LegacySource(
        backend=backend,
        mapping=MAPPING,
        config={"url": url},
        slow=Variant({"table": "T_SLOW"}),
        down=Variant(config={"url": down_url}),
        refused=((missing_column, "MZ"), ({"table": "T_NOPE"}, "T_NOPE")),
        table="T_PERSON",
        columns=frozenset({"GMSFHM", "XM", "XB", "CSRQ", "HJDZ", "JFYS", "GXSJ"}),
        intact=intact,
    )


@pytest.fixture(scope="session")
def _sqlite_source(tmp_path_factory: pytest.TempPathFactory) -> LegacySource:
    path: Path = tmp_path_factory.mktemp("legacy") / "psb.db"
    url = f"sqlite:///{path}"
    _populate(url, "sqlite")
    return _sql_source("sqlite", url)


def _server_source(env: str, backend: str) -> Iterator[LegacySource]:
    with throwaway_database(env, f"{backend} adapter tests") as url:
        _populate(url, backend)
        yield _sql_source(backend, url)


@pytest.fixture(scope="session")
def _postgresql_source() -> Iterator[LegacySource]:
    yield from _server_source(POSTGRES_ENV, "postgresql")


@pytest.fixture(scope="session")
def _mariadb_source() -> Iterator[LegacySource]:
    yield from _server_source(MARIADB_ENV, "mariadb")


# -- files --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _export_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exports")
    write_exports(root)
    for name in ("slow.csv", "slow.txt"):
        os.mkfifo(root / "exports" / name)
    return root


def _file_source(root: Path, mapping: dict[str, Any], slow_name: str) -> LegacySource:
    """A slow file is a FIFO nobody writes: opening it blocks until the timeout must fire."""
    path = root / mapping["file"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    fifo = root / "exports" / slow_name

    def intact(_: str) -> None:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest

    def release() -> None:
        """Open the FIFO's write end once, so the blocked reader sees end-of-file."""
        with contextlib.suppress(OSError):  # no reader is blocked on it
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    stem = Path(mapping["file"]).suffix
    fields = mapping["fields"]
    beyond = {"start": LINE_BYTES + 10, "length": 2}
    missing_column = {"column": "MZ"} if mapping["adapter"] == "csv" else beyond
    return LegacySource(
        backend=mapping["adapter"],
        mapping=mapping,
        config={"root": str(root)},
        slow=Variant({"file": f"exports/{slow_name}"}),
        down=Variant(config={"root": str(root / "unmounted")}),
        refused=(
            ({"fields": {**fields, "ethnicity": missing_column}}, "MZ|beyond the longest line"),
            ({"file": f"exports/T_NOPE{stem}"}, "T_NOPE"),
        ),
        table=mapping["file"],
        columns=frozenset(
            ["GMSFHM", "XM", "XB", "CSRQ", "HJDZ", "JFYS", "GXSJ"]
            if mapping["adapter"] == "csv"
            else ["bytes 0+18", "bytes 18+20", "line"]
        ),
        intact=intact,
        release=release,
    )


@pytest.fixture(scope="session")
def _csv_source(_export_root: Path) -> LegacySource:
    return _file_source(_export_root, CSV_MAPPING, "slow.csv")


@pytest.fixture(scope="session")
def _fixed_width_source(_export_root: Path) -> LegacySource:
    return _file_source(_export_root, FIXED_WIDTH_MAPPING, "slow.txt")


# -- HTTP ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def legacy_api() -> Iterator[LegacyApi]:
    with LegacyApi(ROWS) as api:
        yield api


@pytest.fixture(scope="session")
def _http_source(legacy_api: LegacyApi) -> LegacySource:
    def intact(subject: str) -> None:
        assert legacy_api.seen[-1] == subject  # the API got the subject verbatim, as data

    mapping = http_mapping(legacy_api.base)
    fields = mapping["fields"]
    return LegacySource(
        backend="http",
        mapping=mapping,
        config={"auth_value": SECRET},
        slow=Variant({"url": f"{legacy_api.base}/slow/{{subject}}"}),
        down=Variant({"url": "http://127.0.0.1:1/person/{subject}"}),
        refused=(
            ({"fields": {**fields, "ethnicity": {"column": "MZ"}}}, "MZ"),
            ({"url": "http://psb:pw@127.0.0.1:1/person/{subject}"}, "credentials"),
        ),
        table="/person/{subject}",
        columns=frozenset({"/person/id", "/person/name", "/hukou/address~1line", "/updated"}),
        intact=intact,
    )


# -- the parametrised fixtures ------------------------------------------------------------------


@pytest.fixture(params=SOURCES)
def legacy(request: pytest.FixtureRequest) -> LegacySource:
    source: LegacySource = request.getfixturevalue(f"_{request.param}_source")
    return source


@pytest.fixture(params=SQL_BACKENDS)
def sql_legacy(request: pytest.FixtureRequest) -> LegacySource:
    source: LegacySource = request.getfixturevalue(f"_{request.param}_source")
    return source
