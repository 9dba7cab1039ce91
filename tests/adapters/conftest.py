"""Legacy sources for the adapter contract suite: one small 'legacy' person table per backend.

The table has a legacy department's habits: pinyin column names, the name as GBK bytes, a sex
code, a YYYYMMDD birth date, a NULL sentinel, a duplicate subject, an undecodable name and a
value that breaks its field's schema. PostgreSQL and MariaDB get a throwaway database each.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
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
    text,
)
from sqlalchemy.engine import make_url

from catalogue.identifiers import make_resident_id
from tests.conftest import POSTGRES_ENV, missing

MARIADB_ENV = "TONGBAN_TEST_MARIADB_URL"

GOOD = "11010519491231002X"
SENTINEL = "440524188001010014"
TWICE = make_resident_id("330102", date(2000, 1, 1), 1)
UNDECODABLE = make_resident_id("330105", date(1990, 5, 5), 3)
BAD_CODE = make_resident_id("330106", date(1985, 3, 3), 5)
NEGATIVE = make_resident_id("330108", date(1970, 7, 7), 7)

MAPPING: dict[str, Any] = {
    "kind": "mapping",
    "name": "test/person",
    "adapter": "sql",
    "connection": "legacy",
    "table": "T_PERSON",
    "key": {"column": "GMSFHM"},
    "charset": "gbk",
    "watermark": {"column": "GXSJ"},
    "as_of": {"column": "GXSJ"},
    "fields": {
        "name": {"column": "XM"},
        "sex": {"column": "XB", "codes": {"1": "male", "2": "female"}},
        "birth_date": {"column": "CSRQ", "format": "yyyymmdd", "nulls": ["00000000"]},
        "registered_address": {"column": "HJDZ", "nulls": ["无"]},
        "months_paid": {"column": "JFYS", "format": "integer"},
    },
}

FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "maxLength": 20},
    "sex": {"enum": ["male", "female"]},
    "birth_date": {"type": "string", "format": "date"},
    "registered_address": {"type": "string", "maxLength": 200},
    "months_paid": {"type": "integer", "minimum": 0},
}


def _row(
    subject: str, name: bytes, sex: str, born: str, address: str, months: int, day: int
) -> dict[str, Any]:
    return {
        "GMSFHM": subject,
        "XM": name,
        "XB": sex,
        "CSRQ": born,
        "HJDZ": address,
        "JFYS": months,
        "GXSJ": datetime(2026, 1, day, 8, 0),
    }


ROWS = [
    _row(GOOD, "张三".encode("gbk"), "2", "19491231", "北京市东城区景山前街4号", 120, 1),
    _row(SENTINEL, "李四".encode("gbk"), "1", "00000000", "无", 0, 2),
    _row(TWICE, "王五".encode("gbk"), "1", "20000101", "杭州市上城区", 1, 3),
    _row(TWICE, "王五".encode("gbk"), "1", "20000101", "杭州市拱墅区", 1, 4),
    _row(UNDECODABLE, b"\xff\xfe\xfd", "1", "19900505", "杭州市西湖区", 3, 5),
    _row(BAD_CODE, "赵六".encode("gbk"), "7", "19850303", "杭州市滨江区", 3, 6),
    _row(NEGATIVE, "钱七".encode("gbk"), "1", "19700707", "杭州市萧山区", -5, 7),
]


@dataclass(frozen=True)
class LegacySource:
    backend: str
    url: str


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


@pytest.fixture(scope="session")
def _sqlite_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("legacy") / "psb.db"
    url = f"sqlite:///{path}"
    _populate(url, "sqlite")
    return url


def _server_source(env: str, backend: str) -> Iterator[str]:
    admin_url = os.environ.get(env)
    if not admin_url:
        missing(f"{backend} adapter tests need {env}")
    name = f"tongban_adapt_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        charset = " CHARACTER SET utf8mb4" if backend == "mariadb" else ""
        connection.execute(text(f"CREATE DATABASE {name}{charset}"))
    parsed = make_url(admin_url).set(database=name)
    if backend == "mariadb":
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    url = parsed.render_as_string(hide_password=False)
    try:
        _populate(url, backend)
        yield url
    finally:
        drop = f"DROP DATABASE IF EXISTS {name}"
        with admin.connect() as connection:
            connection.execute(text(drop + (" WITH (FORCE)" if backend == "postgresql" else "")))
        admin.dispose()


@pytest.fixture(scope="session")
def _postgresql_source() -> Iterator[str]:
    yield from _server_source(POSTGRES_ENV, "postgresql")


@pytest.fixture(scope="session")
def _mariadb_source() -> Iterator[str]:
    yield from _server_source(MARIADB_ENV, "mariadb")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def legacy(request: pytest.FixtureRequest) -> LegacySource:
    url: str = request.getfixturevalue(f"_{request.param}_source")
    return LegacySource(request.param, url)
