"""The departments' legacy stores as the demo writes them, read back with plain SQL and bytes.

The SQL part runs on SQLite always, and on PostgreSQL and MariaDB when
``TONGBAN_TEST_POSTGRES_URL`` / ``TONGBAN_TEST_MARIADB_URL`` are set (each in a throwaway database
``tongban_demo_<random>``, dropped afterwards).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url

from exchange.demo.citizens import generate_city
from exchange.demo.legacy import LegacySummary, LegacyTargets, write_legacy_stores
from exchange.demo.legacy_schemas import (
    DESCRIBE,
    DIBAO_CSV_COLUMNS,
    HRSS_STATUS,
    ID_CARD_STATUS,
    REG_LAYOUT,
    REG_RECORD_BYTES,
    REG_USAGE,
)
from exchange.demo.records import Citizen, Household
from tests.conftest import MARIADB_ENV, POSTGRES_ENV, throwaway_database

CITIZENS = 600
SEED = 7


@pytest.fixture(scope="module")
def city() -> list[Household]:
    return list(generate_city(CITIZENS, seed=SEED))


def _citizens(city: list[Household]) -> dict[str, tuple[Household, Citizen]]:
    return {c.id_number: (h, c) for h in city for c in h.members}


@pytest.fixture(params=["sqlite", "postgresql", "mariadb", "mariadb-dialect"])
def targets(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LegacyTargets]:
    """Where to write; "mariadb-dialect" is MariaDB through a ``mariadb+pymysql://`` URL,
    whose dialect reads ``mariadb_*`` table options rather than ``mysql_*`` ones."""
    if request.param == "sqlite":
        yield LegacyTargets.in_directory(tmp_path / "legacy")
        return
    env = POSTGRES_ENV if request.param == "postgresql" else MARIADB_ENV
    with throwaway_database(env, f"{request.param} legacy-store tests") as url:
        if request.param == "mariadb-dialect":
            url = make_url(url).set(drivername="mariadb+pymysql").render_as_string(False)
        # All three departments share the one throwaway database here.
        yield LegacyTargets(url, url, url, tmp_path / "reg.txt", tmp_path / "dibao.csv")


def _rows(connection: Connection, table: str, columns: list[str]) -> list[dict[str, Any]]:
    quote = connection.dialect.identifier_preparer.quote
    # Identifiers come from DESCRIBE constants and are quoted by the dialect.
    sql = f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)}"  # noqa: S608
    return [dict(row._mapping) for row in connection.execute(text(sql))]


def _gbk(value: Any) -> str:
    """GBK text as read back: bytes (SQLite BLOB, PostgreSQL BYTEA) or str (MariaDB gbk)."""
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("gbk")
    assert isinstance(value, str)
    return value


def _compact(day: date) -> str:
    return day.strftime("%Y%m%d")


def test_sql_stores_keep_each_departments_habits(
    city: list[Household], targets: LegacyTargets
) -> None:
    summary = write_legacy_stores(iter(city), targets, batch_size=128)
    people = _citizens(city)
    _check_summary(summary, city)
    engine = create_engine(targets.psb_url)
    try:
        with engine.connect() as connection:
            _check_psb(connection, people)
            _check_psb_storage(connection, people)
            _check_indexes(connection)
        engine.dispose()
        engine = create_engine(targets.hrss_url)
        with engine.connect() as connection:
            _check_hrss(connection, people)
        engine.dispose()
        engine = create_engine(targets.mca_url)
        with engine.connect() as connection:
            _check_mca(connection, people)
    finally:
        engine.dispose()


def _check_summary(summary: LegacySummary, city: list[Household]) -> None:
    members = [c for h in city for c in h.members]
    assert summary.households == len(city)
    assert summary.citizens == len(members) == CITIZENS
    assert summary.rows["PSB.T_RK_HJXX"] == CITIZENS
    assert summary.rows["PSB.T_RK_SFZ"] == sum(c.id_card is not None for c in members)
    assert summary.rows["HRSS.si_person"] == sum(c.social_insurance is not None for c in members)
    assert summary.rows["MCA.marriage_registration"] == CITIZENS
    assert summary.rows["MCA.death_registration"] == sum(c.deceased for c in members) > 0
    dibao = sum(c.dibao is not None for c in members)
    assert summary.rows["MCA.dibao_roll"] == summary.rows["MCA.dibao.csv"] == dibao > 0
    assert summary.rows["REG.export"] == sum(len(h.properties) for h in city) > 0


def _check_psb(connection: Connection, people: dict[str, tuple[Household, Citizen]]) -> None:
    columns = list(DESCRIBE["PSB"]["T_RK_HJXX"].describe)
    rows = _rows(connection, "T_RK_HJXX", columns)
    assert {r["GMSFHM"] for r in rows} == set(people)
    for row in rows:
        household, citizen = people[row["GMSFHM"]]
        address = household.address
        assert _gbk(row["XM"]) == citizen.name
        assert row["XB"] == {"male": "1", "female": "2"}[citizen.sex]
        assert row["CSRQ"] == _compact(citizen.birth_date)
        assert row["MZ"] == citizen.ethnicity
        assert row["YHZGX"] == citizen.relation_code
        assert _gbk(row["HZXM"]) == household.head.name
        assert _gbk(row["HJDZ"]) == address.text
        assert row["HJDZ_XZQH"] == address.division
        assert _gbk(row["HJDZ_MLXZ"]) == (address.detail or "无")
        assert row["WFFZJL"] == ("1" if citizen.criminal_record else "0")
        registered = citizen.registered_on
        assert row["DJRQ"] == ("00000000" if registered is None else _compact(registered))
    assert any(_gbk(r["HJDZ_MLXZ"]) == "无" for r in rows)
    assert any(r["DJRQ"] == "00000000" for r in rows)
    cards = _rows(connection, "T_RK_SFZ", ["GMSFHM", "YXQQ", "YXQZ", "ZT", "QFJG"])
    for row in cards:
        card = people[row["GMSFHM"]][1].id_card
        assert card is not None
        assert row["YXQQ"] == _compact(card.valid_from)
        until = "长期" if card.valid_until is None else _compact(card.valid_until)
        assert _gbk(row["YXQZ"]) == until
        assert row["ZT"] == ID_CARD_STATUS[card.status]
        assert _gbk(row["QFJG"]).endswith("分局")
    assert any(_gbk(r["YXQZ"]) == "长期" for r in cards)


def _check_psb_storage(
    connection: Connection, people: dict[str, tuple[Household, Citizen]]
) -> None:
    """The bytes at rest are GBK, whatever the backend."""
    dialect = connection.dialect.name
    if dialect in ("mysql", "mariadb"):
        charset = connection.execute(
            text(
                "SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'T_RK_HJXX' "
                "AND COLUMN_NAME = 'XM'"
            )
        ).scalar_one()
        assert charset == "gbk"
        stored = connection.execute(text("SELECT GMSFHM, HEX(XM) FROM T_RK_HJXX")).all()
        for number, hexed in stored:
            assert bytes.fromhex(hexed).decode("gbk") == people[number][1].name
        return
    query = 'SELECT "XM" FROM "T_RK_HJXX"'
    if dialect == "sqlite":
        assert connection.execute(text('SELECT DISTINCT typeof("XM") FROM "T_RK_HJXX"')).all() == [
            ("blob",)
        ]
    values = [value for (value,) in connection.execute(text(query))]
    assert all(isinstance(value, bytes | memoryview) for value in values)
    assert any(_not_utf8(bytes(value)) for value in values)


def _not_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _check_indexes(connection: Connection) -> None:
    inspector = inspect(connection)
    for department in ("PSB", "HRSS", "MCA"):
        for name, spec in DESCRIBE[department].items():
            if inspector.has_table(name):
                unique = [ix["column_names"] for ix in inspector.get_indexes(name) if ix["unique"]]
                assert [spec.unique] in unique, name


def _check_hrss(connection: Connection, people: dict[str, tuple[Household, Citizen]]) -> None:
    rows = _rows(connection, "si_person", list(DESCRIBE["HRSS"]["si_person"].describe))
    assert rows
    assert len({r["aac001"] for r in rows}) == len(rows)
    for row in rows:
        citizen = people[row["aac002"]][1]
        record = citizen.social_insurance
        assert record is not None
        assert row["aac003"] == citizen.name
        assert row["aac008"] == HRSS_STATUS[record.status]
        assert row["aae180"] == record.months_paid
        assert row["aic"] == record.pension_fen
        assert row["aab001"] == (record.employer and record.employer.uscc)
        assert row["aab004"] == (record.employer and record.employer.name)
        assert str(row["aac030"]) == record.insured_since.isoformat()
        assert str(row["updated_at"]).startswith(record.updated_at.isoformat(sep=" "))
    assert any(r["aic"] is not None for r in rows)
    assert any(r["aab001"] is not None for r in rows)
    _check_indexes(connection)


def _check_mca(connection: Connection, people: dict[str, tuple[Household, Citizen]]) -> None:
    iso = re.compile(r"\d{4}-\d{2}-\d{2}")
    marriages = _rows(connection, "marriage_registration", ["id_card_no", "marital_status"])
    assert {r["id_card_no"] for r in marriages} == set(people)
    for row in marriages:
        assert row["marital_status"] == people[row["id_card_no"]][1].marriage.code
    deaths = _rows(connection, "death_registration", ["id_card_no", "death_date"])
    assert {r["id_card_no"] for r in deaths} == {n for n, (_, c) in people.items() if c.deceased}
    for row in deaths:
        assert iso.fullmatch(row["death_date"])
    dibao = _rows(connection, "dibao_roll", ["id_card_no", "status", "monthly_amount"])
    assert dibao
    for row in dibao:
        entry = people[row["id_card_no"]][1].dibao
        assert entry is not None
        assert row["status"] == ("在保" if entry.receiving else "停保")
        if entry.receiving:
            assert re.fullmatch(r"\d+\.\d{2}", row["monthly_amount"])
        else:
            assert row["monthly_amount"] is None
    _check_indexes(connection)


@pytest.fixture(scope="module")
def sqlite_stores(
    city: list[Household], tmp_path_factory: pytest.TempPathFactory
) -> tuple[LegacyTargets, LegacySummary]:
    targets = LegacyTargets.in_directory(tmp_path_factory.mktemp("legacy"))
    return targets, write_legacy_stores(iter(city), targets)


def test_fixed_width_export_has_gbk_fields_at_the_documented_byte_positions(
    city: list[Household], sqlite_stores: tuple[LegacyTargets, LegacySummary]
) -> None:
    targets, _ = sqlite_stores
    lines = targets.reg_export.read_bytes().split(b"\r\n")
    assert lines.pop() == b""
    properties = [p for h in city for p in h.properties]
    assert len(lines) == len(properties)
    assert any(_not_utf8(line) for line in lines)
    for line, prop in zip(lines, properties, strict=True):
        assert len(line) == REG_RECORD_BYTES
        fields = {f.name: line[f.start : f.end].decode("gbk").rstrip(" ") for f in REG_LAYOUT}
        assert fields["BDCQZH"] == prop.certificate_no
        assert fields["ZL"] == prop.address.text
        assert fields["XZQH"] == prop.address.division
        assert re.fullmatch(r"\d{6}\.\d{2}", fields["JZMJ"])
        assert float(fields["JZMJ"]) == float(prop.area)
        assert fields["GHYT"] == REG_USAGE[prop.usage]
        assert fields["QLR"].split("、") == [o.name for o in prop.owners]
        assert fields["QLRZJH"].split(",") == [o.id_number for o in prop.owners]
        assert fields["DJRQ"] == _compact(prop.registered_on)


def test_dibao_csv_is_gbk_with_a_chinese_header(
    city: list[Household], sqlite_stores: tuple[LegacyTargets, LegacySummary]
) -> None:
    targets, _ = sqlite_stores
    raw = targets.dibao_csv.read_bytes()
    assert raw.startswith("序号,姓名".encode("gbk"))
    assert _not_utf8(raw)
    assert raw.endswith(b"\r\n")
    rows = list(csv.reader(io.StringIO(raw.decode("gbk"), newline="")))
    assert rows[0] == list(DIBAO_CSV_COLUMNS)
    recipients = [(h, c) for h in city for c in h.members if c.dibao is not None]
    assert len(rows) - 1 == len(recipients)
    for number, (row, (household, citizen)) in enumerate(
        zip(rows[1:], recipients, strict=True), start=1
    ):
        dibao = citizen.dibao
        assert dibao is not None
        amount = "" if dibao.monthly_amount is None else f"{dibao.monthly_amount:.2f}"
        status = "在保" if dibao.receiving else "停保"
        assert row == [
            str(number),
            citizen.name,
            citizen.id_number,
            household.address.division,
            status,
            amount,
            dibao.since.isoformat(),
        ]


def test_writing_again_replaces_the_demo_data(
    sqlite_stores: tuple[LegacyTargets, LegacySummary],
) -> None:
    targets, _ = sqlite_stores
    summary = write_legacy_stores(generate_city(50, seed=1), targets)
    engine = create_engine(targets.psb_url)
    with engine.connect() as connection:
        count = connection.execute(text('SELECT COUNT(*) FROM "T_RK_HJXX"')).scalar_one()
    engine.dispose()
    assert count == summary.citizens == 50
    assert len(targets.reg_export.read_bytes().split(b"\r\n")) - 1 == summary.rows["REG.export"]
    assert not list(targets.reg_export.parent.glob("*.partial"))


def test_a_failed_write_leaves_no_partial_export(tmp_path: Path) -> None:
    targets = LegacyTargets.in_directory(tmp_path)

    def broken() -> Iterator[Household]:
        yield from generate_city(20, seed=1)
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        write_legacy_stores(broken(), targets)
    assert not targets.reg_export.exists()
    assert not list(tmp_path.rglob("*.partial"))
    with pytest.raises(ValueError, match="batch_size"):
        write_legacy_stores([], targets, batch_size=0)


def test_describe_documents_every_column() -> None:
    for tables in DESCRIBE.values():
        for spec in tables.values():
            described = spec.describe
            assert spec.unique in described
            for type_name, meaning in described.values():
                assert type_name
                assert meaning
    assert [f.start for f in REG_LAYOUT[1:]] == [f.end for f in REG_LAYOUT[:-1]]
    assert sum(f.width for f in REG_LAYOUT) == REG_RECORD_BYTES
