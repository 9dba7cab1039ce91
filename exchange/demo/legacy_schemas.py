"""What the four departments' legacy stores look like: tables, columns, codes, file layouts.

Each department kept its own habits, and the hub's adapters have to read them as they are:

* **Public Security 公安局 (PSB)**: upper-case pinyin-abbreviation names (``T_RK_HJXX``, ``XM``,
  ``GMSFHM``), dates as ``YYYYMMDD`` text, national code tables, text in GBK (a ``CHARACTER SET
  gbk`` table on MariaDB; elsewhere BLOB/BYTEA columns holding GBK bytes), and sentinels instead
  of NULL: ``'无'`` for an empty address part, ``'00000000'`` for an unknown date, ``'长期'`` for a
  long-term ID card.
* **Human Resources and Social Security 人社局 (HRSS)**: the national social insurance data
  dictionary's codes as column names (``aac002`` ID number, ``aac003`` name, …), UTF-8, real
  ``DATE``/``TIMESTAMP`` types, money in integer fen, ``updated_at`` as a sync watermark.
* **Civil Affairs 民政局 (MCA)**: English lower_snake names, ISO dates as text, GB/T 2261.2
  marital status codes with the detail digit, amounts as decimal text, Chinese status words; only
  people with a record have a row (no death row means not deceased). The dibao roll is also
  exported as a GBK CSV with Chinese headers (:data:`DIBAO_CSV_COLUMNS`).
* **Real Estate Registry 不动产登记中心 (REG)**: a fixed-width GBK text export, one property per
  line, widths in bytes (a Chinese character takes two): :data:`REG_LAYOUT`.

:data:`DESCRIBE` maps department → table → column to its type and meaning (like SQL
``DESCRIBE``), for documentation and for writing adapter mappings. :func:`build_tables` makes the
SQLAlchemy tables from it, so the description cannot drift from the stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "DESCRIBE",
    "DIBAO_CSV_COLUMNS",
    "DIBAO_STATUS",
    "HRSS_STATUS",
    "HRSS_TABLES",
    "ID_CARD_STATUS",
    "MCA_TABLES",
    "PSB_TABLES",
    "REG_LAYOUT",
    "REG_RECORD_BYTES",
    "REG_USAGE",
    "ColumnSpec",
    "FixedWidthField",
    "GbkText",
    "TableSpec",
    "build_tables",
]

ColumnKind = Literal["gbk", "text", "int", "bigint", "date", "timestamp"]


@dataclass(frozen=True)
class ColumnSpec:
    """One column: name, storage kind, length (characters), nullability and meaning."""

    name: str
    kind: ColumnKind
    meaning: str
    length: int | None = None
    nullable: bool = False
    primary_key: bool = False

    @property
    def type(self) -> str:
        """The column's type as documentation shows it."""
        sized = f"({self.length})" if self.length else ""
        return {
            "gbk": f"GBK VARCHAR{sized}",
            "text": f"VARCHAR{sized}",
            "int": "INTEGER",
            "bigint": "BIGINT",
            "date": "DATE",
            "timestamp": "TIMESTAMP",
        }[self.kind] + ("" if self.nullable else " NOT NULL")


@dataclass(frozen=True)
class TableSpec:
    """A table: meaning, columns, the unique ID-number column, other indexed columns, charset."""

    name: str
    meaning: str
    columns: tuple[ColumnSpec, ...]
    unique: str
    indexed: tuple[str, ...] = ()
    charset: str = "utf8mb4"
    """Table character set on MariaDB."""

    @property
    def describe(self) -> Mapping[str, tuple[str, str]]:
        """Column name → (type, meaning), in table order."""
        return MappingProxyType({c.name: (c.type, c.meaning) for c in self.columns})


def _c(name: str, kind: ColumnKind, length: int | None, meaning: str, **extra: bool) -> ColumnSpec:
    return ColumnSpec(name, kind, meaning, length, **extra)


ID_CARD_STATUS: Final[Mapping[str, str]] = MappingProxyType(
    {"normal": "1", "reported_lost": "2", "cancelled": "3"}
)
"""PSB ``T_RK_SFZ.ZT``: 1 正常, 2 挂失, 3 注销."""

PSB_TABLES: Final[Mapping[str, TableSpec]] = MappingProxyType(
    {
        "T_RK_HJXX": TableSpec(
            "T_RK_HJXX",
            "常住人口户籍信息 household register, one row per person",
            (
                _c("RYID", "bigint", None, "人员编号 internal person number", primary_key=True),
                _c("HH", "text", 9, "户号 household number"),
                _c("GMSFHM", "text", 18, "公民身份号码 ID number (GB 11643)"),
                _c("XM", "gbk", 50, "姓名 name"),
                _c("XB", "text", 1, "性别 sex, GB/T 2261.1: 1 男, 2 女"),
                _c("CSRQ", "text", 8, "出生日期 birth date, YYYYMMDD"),
                _c("MZ", "text", 2, "民族 ethnicity, GB/T 3304 two digits (01 汉族)"),
                _c("HZXM", "gbk", 50, "户主姓名 household head's name"),
                _c("YHZGX", "text", 2, "与户主关系 relation to head, GB/T 4761 (02 户主)"),
                _c("HJDZ_XZQH", "text", 6, "户籍地址行政区划 division code (GB/T 2260)"),
                _c("HJDZ_JLX", "gbk", 60, "户籍地址街路巷 street, road or town+village"),
                _c("HJDZ_MLPH", "gbk", 20, "门(楼)牌号 house number, e.g. 123号"),
                _c("HJDZ_MLXZ", "gbk", 60, "门楼详址 building/unit/room; '无' if none"),
                _c("HJDZ", "gbk", 200, "户籍地址 full registered address"),
                _c(
                    "WFFZJL",
                    "text",
                    1,
                    "违法犯罪记录标识 criminal record flag '0'/'1' (not shared)",
                ),
                _c("DJRQ", "text", 8, "登记日期 date entered the register; '00000000' unknown"),
            ),
            unique="GMSFHM",
            indexed=("HH",),
            charset="gbk",
        ),
        "T_RK_SFZ": TableSpec(
            "T_RK_SFZ",
            "居民身份证信息 current resident ID card, one row per card holder",
            (
                _c("GMSFHM", "text", 18, "公民身份号码 ID number"),
                _c("YXQQ", "text", 8, "有效期起 valid from, YYYYMMDD"),
                _c("YXQZ", "gbk", 8, "有效期止 valid until, YYYYMMDD or '长期' (long-term)"),
                _c("ZT", "text", 1, "证件状态 status: 1 正常, 2 挂失, 3 注销"),
                _c("QFJG", "gbk", 60, "签发机关 issuing authority"),
            ),
            unique="GMSFHM",
            charset="gbk",
        ),
    }
)

HRSS_STATUS: Final[Mapping[str, str]] = MappingProxyType(
    {"contributing": "1", "suspended": "2", "terminated": "3", "retired": "4"}
)
"""HRSS ``si_person.aac008``: 1 参保缴费, 2 暂停缴费(中断), 3 终止参保, 4 退休."""

HRSS_TABLES: Final[Mapping[str, TableSpec]] = MappingProxyType(
    {
        "si_person": TableSpec(
            "si_person",
            "参保人员 insured person: current record, updated monthly",
            (
                _c("aac001", "bigint", None, "个人编号 person number", primary_key=True),
                _c("aac002", "text", 18, "公民身份号码 ID number"),
                _c("aac003", "text", 50, "姓名 name"),
                _c("aac004", "text", 1, "性别 sex, GB/T 2261.1: 1 男, 2 女"),
                _c("aac008", "text", 1, "参保状态: 1 参保缴费, 2 暂停缴费, 3 终止参保, 4 退休"),
                _c("aae180", "int", None, "累计缴费月数 months paid (incl. deemed)"),
                _c("aab001", "text", 18, "参保单位统一社会信用代码 employer USCC", nullable=True),
                _c("aab004", "text", 200, "参保单位名称 employer name", nullable=True),
                _c("aic", "bigint", None, "养老金月领取额 monthly pension, fen", nullable=True),
                _c("aac030", "date", None, "首次参保日期 insured since"),
                _c("updated_at", "timestamp", None, "最后更新时间, Asia/Shanghai, no zone"),
            ),
            unique="aac002",
            indexed=("updated_at",),
        ),
    }
)

DIBAO_STATUS: Final[Mapping[bool, str]] = MappingProxyType({True: "在保", False: "停保"})
"""MCA dibao status words: receiving → 在保, stopped → 停保."""

MCA_TABLES: Final[Mapping[str, TableSpec]] = MappingProxyType(
    {
        "marriage_registration": TableSpec(
            "marriage_registration",
            "婚姻登记 current marital status, one row per person",
            (
                _c("id_card_no", "text", 18, "公民身份号码 ID number"),
                _c("name", "text", 50, "姓名 name"),
                _c(
                    "marital_status",
                    "text",
                    2,
                    "婚姻状况 GB/T 2261.2: 10 未婚, 21 初婚, 22 再婚, 23 复婚, 30 丧偶, 40 离婚",
                ),
                _c("spouse_name", "text", 50, "配偶姓名, NULL unless married", nullable=True),
                _c("registered_date", "text", 10, "latest registration, YYYY-MM-DD", nullable=True),
            ),
            unique="id_card_no",
        ),
        "death_registration": TableSpec(
            "death_registration",
            "死亡登记: one row per registered death; no row means not deceased",
            (
                _c("id_card_no", "text", 18, "公民身份号码 ID number"),
                _c("name", "text", 50, "姓名 name"),
                _c("death_date", "text", 10, "死亡日期 YYYY-MM-DD"),
                _c("registered_at", "timestamp", None, "登记时间, Asia/Shanghai, no zone"),
            ),
            unique="id_card_no",
            indexed=("registered_at",),
        ),
        "dibao_roll": TableSpec(
            "dibao_roll",
            "低保对象名册: current and former recipients; no row means never received",
            (
                _c("id_card_no", "text", 18, "公民身份号码 ID number"),
                _c("name", "text", 50, "姓名 name"),
                _c("district_code", "text", 6, "所属区县 division code"),
                _c("status", "text", 4, "保障状态: 在保 receiving, 停保 stopped"),
                _c("monthly_amount", "text", 12, "月保障金额 yuan, '1264.00'", nullable=True),
                _c("since_date", "text", 10, "纳入保障日期 YYYY-MM-DD"),
            ),
            unique="id_card_no",
        ),
    }
)

DESCRIBE: Final[Mapping[str, Mapping[str, TableSpec]]] = MappingProxyType(
    {"PSB": PSB_TABLES, "HRSS": HRSS_TABLES, "MCA": MCA_TABLES}
)
"""Department → table name → :class:`TableSpec` (``.describe`` gives column → type, meaning)."""


@dataclass(frozen=True)
class FixedWidthField:
    """A field of the REG export: byte offset (0-based), width in bytes, meaning."""

    name: str
    start: int
    width: int
    meaning: str

    @property
    def end(self) -> int:
        return self.start + self.width


def _layout(*fields: tuple[str, int, str]) -> tuple[FixedWidthField, ...]:
    out: list[FixedWidthField] = []
    start = 0
    for name, width, meaning in fields:
        out.append(FixedWidthField(name, start, width, meaning))
        start += width
    return tuple(out)


REG_LAYOUT: Final[tuple[FixedWidthField, ...]] = _layout(
    ("BDCQZH", 60, "不动产权证书号 certificate number, e.g. 浙(2021)演示市不动产权第0012345号"),
    ("ZL", 120, "坐落 location address"),
    ("XZQH", 6, "坐落行政区划代码 division code"),
    ("JZMJ", 9, "建筑面积 area in m², zero-padded with two decimals: 000089.50"),
    ("GHYT", 2, "规划用途 usage: 10 住宅, 20 工业, 30 商业, 60 办公, 80 其他"),
    ("QLR", 60, "权利人 owners' names joined by '、'"),
    ("QLRZJH", 95, "权利人证件号 owners' ID numbers joined by ',' (same order)"),
    ("DJRQ", 8, "登记日期 registration date, YYYYMMDD"),
)
"""Byte positions of the REG export. Text is GBK, left-aligned and padded with spaces; each
record is followed by CRLF."""

REG_RECORD_BYTES: Final = REG_LAYOUT[-1].end
"""Bytes per record, not counting the CRLF line end."""

REG_USAGE: Final[Mapping[str, str]] = MappingProxyType(
    {"residential": "10", "industrial": "20", "commercial": "30", "office": "60", "other": "80"}
)
"""REG ``GHYT`` usage codes (房屋规划用途, TD/T 1066 top level) for the descriptor's codes."""

DIBAO_CSV_COLUMNS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "序号": "row number from 1",
        "姓名": "name",
        "公民身份号码": "ID number",
        "区县代码": "division code",
        "保障状态": "在保 receiving, 停保 stopped",
        "月保障金额（元）": "monthly amount in yuan, '1264.00'; empty when stopped",
        "纳入保障日期": "since, YYYY-MM-DD",
    }
)
"""Header row of the MCA dibao CSV export (GBK, CRLF line ends), with each column's meaning."""


class GbkText(TypeDecorator[str]):
    """Text stored in GBK: VARCHAR in a gbk table on MariaDB, GBK bytes in a BLOB elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_mysql(dialect):
            return dialect.type_descriptor(String(self.length))
        return dialect.type_descriptor(LargeBinary(self.length * 2))

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None or _is_mysql(dialect):
            return value
        return value.encode("gbk")

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("gbk")
        return None if value is None else str(value)


def _is_mysql(dialect: Dialect) -> bool:
    return dialect.name in ("mysql", "mariadb")


def _sql_type(spec: ColumnSpec) -> TypeEngine[Any]:
    if spec.kind == "gbk":
        return GbkText(spec.length or 255)
    if spec.kind == "text":
        return String(spec.length or 255)
    fixed: dict[str, TypeEngine[Any]] = {
        "int": Integer(),
        "bigint": BigInteger(),
        "date": Date(),
        "timestamp": DateTime(),
    }
    return fixed[spec.kind]


def build_tables(metadata: MetaData, specs: Mapping[str, TableSpec]) -> dict[str, Table]:
    """SQLAlchemy tables for *specs*, with a unique index on each table's ID-number column."""
    tables: dict[str, Table] = {}
    for spec in specs.values():
        columns = [
            Column(
                c.name,
                _sql_type(c),
                nullable=c.nullable,
                primary_key=c.primary_key,
                autoincrement=False,
                comment=c.meaning,
            )
            for c in spec.columns
        ]
        table = Table(
            spec.name,
            metadata,
            *columns,
            comment=spec.meaning,
            # The "mariadb" dialect (mariadb+pymysql://) reads its own prefix, not "mysql_".
            mysql_charset=spec.charset,
            mysql_engine="InnoDB",
            mariadb_charset=spec.charset,
            mariadb_engine="InnoDB",
        )
        Index(f"ux_{spec.name.lower()}_{spec.unique.lower()}", table.c[spec.unique], unique=True)
        for name in spec.indexed:
            Index(f"ix_{spec.name.lower()}_{name.lower()}", table.c[name])
        tables[spec.name] = table
    return tables
