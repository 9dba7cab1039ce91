"""Mapping documents and value conversions: each legacy habit, and errors without values."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.mapping import FieldMapping, Locator, MappingProblem, parse_mapping
from tests.adapters.sources import MAPPING


def field(**kwargs: Any) -> FieldMapping:
    return FieldMapping(name="f", locator=Locator(column="C"), **kwargs)


@pytest.mark.parametrize(
    ("mapping", "raw", "charset", "expected"),
    [
        (field(), "张三".encode("gbk"), "gbk", "张三"),
        (field(), "𠀀".encode("gb18030"), "gb18030", "𠀀"),
        (field(), "  王五\u3000\u3000 ", "utf-8", "王五"),
        (field(), "王五\x00\x00", "utf-8", "王五"),
        (field(nulls=frozenset({"无"})), "无", "utf-8", None),
        (field(), "   ", "utf-8", None),
        (field(), None, "utf-8", None),
        (field(codes={"1": "male", "2": "female"}), "2", "utf-8", "female"),
        (field(codes={"1": "male"}), 1, "utf-8", "male"),
        (field(format="yyyymmdd"), "19491231", "utf-8", "1949-12-31"),
        (field(format="yyyymmdd", nulls=frozenset({"00000000"})), "00000000", "utf-8", None),
        (field(format="date"), date(2020, 2, 29), "utf-8", "2020-02-29"),
        (field(format="date"), "2020-02-29 00:00:00", "utf-8", "2020-02-29"),
        (field(format="datetime"), datetime(2026, 1, 1, 8), "utf-8", "2026-01-01T08:00:00"),
        (field(format="integer"), "000120", "utf-8", 120),
        (field(format="decimal"), "000089.50", "utf-8", 89.5),
        (field(format="decimal"), Decimal("12.25"), "utf-8", 12.25),
        (field(format="boolean01"), "1", "utf-8", True),
        (field(format="boolean01"), "否", "utf-8", False),
        (field(format="fen_to_yuan"), 123456, "utf-8", 1234.56),
        (field(split=";"), "张三;李四; ;", "utf-8", ["张三", "李四"]),
        (field(format="yyyymmdd", values={"长期": "99991231"}), "长期", "utf-8", "9999-12-31"),
        (field(format="yyyymmdd", values={"长期": "99991231"}), "20300101", "utf-8", "2030-01-01"),
        (
            field(format="yyyymmdd", values={"长期": "99991231"}),
            "长期".encode("gbk"),
            "gbk",
            "9999-12-31",
        ),
        (field(values={"在保": True, "停保": False}), "停保", "utf-8", False),
        (field(values={"X": "1"}, codes={"1": "male"}), "X", "utf-8", "male"),
        (field(format="present"), "2020-01-01", "utf-8", True),
        (field(format="present"), None, "utf-8", False),
        (field(format="present"), "  ", "utf-8", False),
        (field(format="present", nulls=frozenset({"00000000"})), "00000000", "utf-8", False),
        (field(format="present"), b"\xd5\xc5", "gbk", True),
    ],
)
def test_conversions(mapping: FieldMapping, raw: object, charset: str, expected: object) -> None:
    assert mapping.convert(raw, charset) == expected


@pytest.mark.parametrize(
    ("mapping", "raw", "charset", "reason"),
    [
        (field(), b"\xff\xfe", "gbk", "an undecodable byte (gbk) at offset 0"),
        (field(codes={"1": "male"}), "7", "utf-8", "a code that is not in the code table"),
        (field(format="yyyymmdd"), "19491331", "utf-8", "not a YYYYMMDD date"),
        (field(format="integer"), "1.5", "utf-8", "not an integer"),
        (field(format="decimal"), "12,5", "utf-8", "not a number"),
        (field(format="boolean01"), "2", "utf-8", "not a 0/1 flag"),
    ],
)
def test_bad_values_are_refused_without_quoting_them(
    mapping: FieldMapping, raw: object, charset: str, reason: str
) -> None:
    with pytest.raises(MappingProblem) as caught:
        mapping.convert(raw, charset)
    assert caught.value.reason == reason
    assert str(raw) not in str(caught.value) or len(str(raw)) < 2


@given(
    st.text(
        alphabet=st.characters(codec="gbk", exclude_categories=("Cs", "Cc", "Zs")),
        min_size=1,
        max_size=30,
    )
)
def test_any_gbk_text_round_trips_through_a_gbk_column(value: str) -> None:
    expected = value.strip(" \u3000\x00\t\r\n") or None
    assert field().convert(value.encode("gbk"), "gbk") == expected


def test_a_valid_mapping_parses() -> None:
    mapping = parse_mapping(MAPPING)
    assert mapping.key.column == "GMSFHM"
    assert mapping.fields["sex"].codes == {"1": "male", "2": "female"}
    assert [loc.label for loc in mapping.locators()][:2] == ["GMSFHM", "XM"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"key": {"column": "A", "start": 0, "length": 3}}, "/key"),
        ({"fields": {"name": {"column": "XM", "format": "roman"}}}, "/fields/name/format"),
        ({"fields": {"Name": {"column": "XM"}}}, "/fields"),
        ({"table": "T; DROP TABLE x"}, "/table"),
        ({"url": "ftp://example/{subject}"}, "/url"),
        ({"password": "secret"}, "/password"),
        ({"fields": {"f": {"column": "C", "format": "present", "values": {}}}}, "/fields/f/values"),
        ({"when_absent": {"nonesuch": False}}, "/when_absent/nonesuch"),
        ({"when_absent": {"name": {"nested": "secret"}}}, "/when_absent/name"),
        ({"when_absent": {}}, "/when_absent"),
        ({"key_split": ","}, "/records"),
        ({"records": "several"}, "/records"),
    ],
)
def test_bad_mappings_are_refused_with_a_pointer(change: dict[str, Any], where: str) -> None:
    with pytest.raises(MappingProblem) as caught:
        parse_mapping({**MAPPING, **change})
    assert caught.value.where.startswith(where)
    assert "secret" not in str(caught.value)


def test_values_and_when_absent_parse() -> None:
    mapping = parse_mapping(
        {
            **MAPPING,
            "fields": {
                **MAPPING["fields"],
                "valid_until": {
                    "column": "YXQZ",
                    "format": "yyyymmdd",
                    "values": {"长期": "99991231"},
                },
                "deceased": {"column": "SWRQ", "format": "present"},
            },
            "when_absent": {"deceased": False},
        }
    )
    assert mapping.fields["valid_until"].convert("长期", "utf-8") == "9999-12-31"
    assert mapping.fields["deceased"].convert("20200101", "utf-8") is True
    assert mapping.absent_values(["deceased", "name"]) == {"deceased": False, "name": None}
    assert parse_mapping(MAPPING).absent_values(["name"]) is None


def test_an_unparseable_replacement_is_refused_without_the_value() -> None:
    mapping = field(format="yyyymmdd", values={"长期": "forever"})
    with pytest.raises(MappingProblem) as caught:
        mapping.convert("长期", "utf-8")
    assert caught.value.reason == "not a YYYYMMDD date"
    assert "长期" not in str(caught.value)
    assert "forever" not in str(caught.value)
