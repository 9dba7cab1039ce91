"""Release transforms (masks, keyed hash, year) and derived predicates."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.errors import ConflictingRecords, InvalidAttribute, PolicyError
from policies.model import Derivation, Release
from policies.transforms import (
    COMPOUND_SURNAMES,
    DERIVATION_BASE,
    HMAC_SHA256,
    HashKey,
    apply_release,
    evaluate,
    keyed_hash,
    mask_id,
    mask_name,
    parse_derivation,
    year,
)

KEY = HashKey(b"consumer-key-edu-enrolment-0001", HMAC_SHA256)
OTHER_KEY = HashKey(b"consumer-key-mca-dibao-00000001", HMAC_SHA256)
RESIDENT_ID = "11010519491231002X"


def message_of(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


# ---------------------------------------------------------------------------
# mask_id
# ---------------------------------------------------------------------------


def test_mask_id_keeps_the_first_six_and_last_four() -> None:
    assert mask_id(RESIDENT_ID) == "110105********002X"


def test_mask_id_on_a_first_generation_fifteen_digit_id() -> None:
    assert mask_id("110105491231002") == "110105*****1002"


def test_mask_id_on_a_social_credit_code() -> None:
    assert mask_id("91110000802100433B") == "911100********433B"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("11010519491231", id="short"),
        pytest.param("1101051949", id="ten characters"),
        pytest.param("11010519491231002Ｘ", id="full-width X"),
        pytest.param("110105 19491231002X", id="space inside"),
        pytest.param("浙(2020)演示市不动产权第0012345号", id="not an identifier"),
        pytest.param("", id="empty"),
    ],
)
def test_mask_id_masks_short_or_odd_input_entirely(value: str) -> None:
    assert mask_id(value) == "*" * len(value)


def test_mask_id_refuses_a_non_string_without_showing_it() -> None:
    with pytest.raises(TypeError) as excinfo:
        mask_id(110105194912310021)  # type: ignore[arg-type]
    assert "110105" not in message_of(excinfo)
    assert "int" in message_of(excinfo)


@given(st.text(max_size=30))
def test_mask_id_never_shows_the_middle(value: str) -> None:
    masked = mask_id(value)
    assert len(masked) == len(value)
    assert set(masked[6:-4]) <= {"*"}
    if masked != "*" * len(value):
        assert value.isascii()
        assert value.isalnum()
        assert len(value) >= 15
        assert (masked[:6], masked[-4:]) == (value[:6], value[-4:])


# ---------------------------------------------------------------------------
# mask_name
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张**"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳修", "欧阳*"),
        ("司马懿", "司马*"),
        ("诸葛亮", "诸葛*"),
        ("欧阳", "欧*"),  # two characters: surname 欧, given name 阳
        ("张", "*"),
        ("", ""),
        (" 李四 ", "李*"),
        ("买买提·艾力", "买*****"),
    ],
)
def test_mask_name_keeps_the_surname(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_name_knows_the_common_compound_surnames() -> None:
    named = {"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "夏侯"}
    named |= {"轩辕", "令狐", "宇文"}
    assert named <= COMPOUND_SURNAMES
    for surname in named:
        assert mask_name(surname + "某某") == surname + "**"


def test_mask_name_masks_a_list_name_by_name() -> None:
    assert mask_name(["张三", "欧阳娜娜"]) == ["张*", "欧阳**"]
    assert mask_name(("李四",)) == ["李*"]
    assert mask_name([]) == []


def test_mask_name_refuses_a_non_string_without_showing_it() -> None:
    with pytest.raises(TypeError) as excinfo:
        mask_name(["张三", 42])  # type: ignore[list-item]
    assert "42" not in message_of(excinfo)


# ---------------------------------------------------------------------------
# keyed_hash
# ---------------------------------------------------------------------------


def expected_hash(key: HashKey, canonical: str) -> str:
    digest = hmac.new(key.key, canonical.encode("utf-8"), hashlib.sha256).digest()
    return "hmac-sha256:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_keyed_hash_is_hmac_sha256_over_canonical_json() -> None:
    assert keyed_hash(KEY, RESIDENT_ID) == expected_hash(KEY, f'"{RESIDENT_ID}"')
    value = {"b": "张三", "a": [1, 2.5, None, True]}
    assert keyed_hash(KEY, value) == expected_hash(KEY, '{"a":[1,2.5,null,true],"b":"张三"}')


def test_keyed_hash_is_base64url_without_padding() -> None:
    digest = keyed_hash(KEY, "any value").removeprefix("hmac-sha256:")
    assert len(digest) == 43
    assert set(digest) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_keyed_hash_ignores_key_order() -> None:
    assert keyed_hash(KEY, {"a": 1, "b": 2}) == keyed_hash(KEY, {"b": 2, "a": 1})


@given(st.text(), st.text())
def test_keyed_hash_is_keyed(value: str, other: str) -> None:
    assert keyed_hash(KEY, value) == keyed_hash(KEY, value)
    assert keyed_hash(KEY, value) != keyed_hash(OTHER_KEY, value)
    assert (keyed_hash(KEY, value) == keyed_hash(KEY, other)) == (value == other)


def test_keyed_hash_refuses_a_short_key() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        keyed_hash(HashKey(b"short", HMAC_SHA256), RESIDENT_ID)


@pytest.mark.parametrize("value", [date(2008, 2, 29), float("nan"), {RESIDENT_ID}])
def test_keyed_hash_refuses_a_value_without_canonical_json(value: Any) -> None:
    with pytest.raises(ValueError, match="no canonical JSON form") as excinfo:
        keyed_hash(KEY, value)
    assert "2008" not in message_of(excinfo)
    assert RESIDENT_ID not in message_of(excinfo)
    assert excinfo.value.__cause__ is None


# ---------------------------------------------------------------------------
# year
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2008-02-29",
        "2008-02-29T23:30:00",
        "2008-02-29T23:30:00+08:00",
        "2008-02-29T23:30:00Z",
        date(2008, 2, 29),
        datetime(2008, 2, 29, 23, 30),
    ],
)
def test_year_of_a_date_or_date_time(value: str | date) -> None:
    assert year(value) == 2008


@pytest.mark.parametrize("value", ["29/02/2008", "2008-02-30", "", "2008", "yesterday"])
def test_year_refuses_what_is_not_an_iso_date_without_naming_it(value: str) -> None:
    with pytest.raises(ValueError, match=r"^year needs an ISO date or date-time$"):
        year(value)


# ---------------------------------------------------------------------------
# apply_release
# ---------------------------------------------------------------------------


def test_clear_releases_the_value_itself() -> None:
    value = {"nested": ["张三"]}
    assert apply_release(Release.CLEAR, value, hash_key=KEY) is value


@pytest.mark.parametrize(
    ("release", "value", "released"),
    [
        (Release.MASK_ID, RESIDENT_ID, "110105********002X"),
        (Release.MASK_NAME, "欧阳娜娜", "欧阳**"),
        (Release.MASK_NAME, ["张三", "李四"], ["张*", "李*"]),
        (Release.YEAR, "2008-02-29", 2008),
        (Release.YEAR, ["2008-02-29", None], [2008, None]),
        (Release.MASK_ID, [RESIDENT_ID], ["110105********002X"]),
        (Release.HASH, RESIDENT_ID, keyed_hash(KEY, RESIDENT_ID)),
        (Release.HASH, ["张三", "李四"], keyed_hash(KEY, ["张三", "李四"])),
    ],
)
def test_apply_release_dispatches(release: Release, value: Any, released: Any) -> None:
    assert apply_release(release, value, hash_key=KEY) == released


@pytest.mark.parametrize("release", [r for r in Release if r is not Release.DERIVED])
def test_a_missing_value_stays_missing(release: Release) -> None:
    assert apply_release(release, None, hash_key=KEY) is None


def test_derived_is_not_a_release_of_the_value() -> None:
    with pytest.raises(ValueError, match="answered by evaluate") as excinfo:
        apply_release(Release.DERIVED, "2008-02-29", hash_key=KEY)
    assert "2008" not in message_of(excinfo)


# ---------------------------------------------------------------------------
# parse_derivation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "derivation"),
    [
        ("age_at_least(18)", Derivation("age_at_least", "18")),
        ("household.age_at_least(18)", Derivation("age_at_least", "18")),
        ("age_at_least(0)", Derivation("age_at_least", "0")),
        ("age_at_least(150)", Derivation("age_at_least", "150")),
        ("age_at_least(018)", Derivation("age_at_least", "18")),
        ("resides_in(330106)", Derivation("resides_in", "330106")),
        ("household.resides_in(33)", Derivation("resides_in", "33")),
        ("property.owns_property_in(3301)", Derivation("owns_property_in", "3301")),
    ],
)
def test_parse_derivation(text: str, derivation: Derivation) -> None:
    assert parse_derivation(text) == derivation


@pytest.mark.parametrize("text", ["division", "household.division", "age_at_least"])
def test_a_plain_field_has_no_derivation(text: str) -> None:
    assert parse_derivation(text) is None


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("age_at_least(151)", id="age too high"),
        pytest.param("age_at_least(-1)", id="negative age"),
        pytest.param("age_at_least(17.5)", id="fractional age"),
        pytest.param("age_at_least()", id="no age"),
        pytest.param("age_at_least(１８)", id="full-width digits"),
        pytest.param("age_at_least( 18)", id="space"),
        pytest.param("resides_in(3)", id="one digit"),
        pytest.param("resides_in(330)", id="odd length"),
        pytest.param("resides_in(3301061)", id="seven digits"),
        pytest.param("resides_in(33ab)", id="letters"),
        pytest.param("owns_property_in(11010519491231002X)", id="an ID number"),
        pytest.param("income_above(3000)", id="unknown predicate"),
        pytest.param("Age_At_Least(18)", id="capitals"),
        pytest.param("age_at_least(18", id="unclosed"),
        pytest.param("age_at_least((18))", id="nested"),
        pytest.param("age_at_least(18)x", id="trailing text"),
        pytest.param("household.(18)", id="no predicate"),
    ],
)
def test_a_bad_derivation_is_an_invalid_attribute(text: str) -> None:
    with pytest.raises(InvalidAttribute) as excinfo:
        parse_derivation(text)
    error = excinfo.value
    assert isinstance(error, PolicyError)
    assert (error.code, error.status) == ("invalid_attribute", 422)
    assert error.problem()["code"] == "invalid_attribute"
    argument = text.partition("(")[2].rstrip(")")
    if argument:
        assert argument not in message_of(excinfo)


def test_each_predicate_reads_one_field() -> None:
    assert dict(DERIVATION_BASE) == {
        "age_at_least": "birth_date",
        "resides_in": "division",
        "owns_property_in": "division",
    }


# ---------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------

ADULT = Derivation("age_at_least", "18")


@pytest.mark.parametrize(
    ("born", "today", "adult"),
    [
        pytest.param("2008-06-01", date(2026, 5, 31), False, id="the day before"),
        pytest.param("2008-06-01", date(2026, 6, 1), True, id="on the birthday"),
        pytest.param("2008-06-01", date(2026, 6, 2), True, id="the day after"),
        pytest.param("2008-06-01", date(2026, 1, 1), False, id="earlier in the year"),
        pytest.param("2008-12-31", date(2026, 12, 31), True, id="last day of the year"),
        pytest.param("2008-02-29", date(2026, 2, 28), False, id="leap day: 28 Feb, common year"),
        pytest.param("2008-02-29", date(2026, 3, 1), True, id="leap day: 1 Mar, common year"),
        pytest.param("2008-02-29T08:00:00+08:00", date(2026, 3, 1), True, id="date-time"),
        pytest.param(date(2008, 6, 1), date(2026, 6, 1), True, id="a date"),
        pytest.param(datetime(2008, 6, 1, 9), date(2026, 5, 31), False, id="a datetime"),
    ],
)
def test_age_at_least(born: str | date, today: date, adult: bool) -> None:
    assert evaluate(ADULT, [born], today=today) is adult


def test_age_on_a_leap_day_in_a_leap_year() -> None:
    turns_24 = Derivation("age_at_least", "24")
    assert evaluate(turns_24, ["2000-02-29"], today=date(2024, 2, 28)) is False
    assert evaluate(turns_24, ["2000-02-29"], today=date(2024, 2, 29)) is True


def test_age_at_least_zero() -> None:
    newborn = Derivation("age_at_least", "0")
    assert evaluate(newborn, ["2026-06-01"], today=date(2026, 6, 1)) is True
    assert evaluate(newborn, ["2026-06-02"], today=date(2026, 6, 1)) is False


def nth_birthday(born: date, years: int) -> date:
    """Another way to count: the date of the n-th birthday, 1 March for 29 February."""
    try:
        return born.replace(year=born.year + years)
    except ValueError:
        return date(born.year + years, 3, 1)


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=0, max_value=60_000),
    st.integers(min_value=0, max_value=150),
)
def test_age_at_least_is_reaching_the_nth_birthday(born: date, days: int, years: int) -> None:
    today = born + timedelta(days=days)
    answer = evaluate(Derivation("age_at_least", str(years)), [born.isoformat()], today=today)
    assert answer is (today >= nth_birthday(born, years))


@pytest.mark.parametrize(
    ("derivation", "values", "answer"),
    [
        (Derivation("resides_in", "3301"), ["330106"], True),
        (Derivation("resides_in", "330106"), ["330106"], True),
        (Derivation("resides_in", "3301"), ["330206"], False),
        (Derivation("resides_in", "33"), ["330106", "330106"], True),
        (Derivation("owns_property_in", "330106"), ["110105", "330106"], True),
        (Derivation("owns_property_in", "330106"), ["110105", "330108"], False),
        (Derivation("owns_property_in", "3301"), [None, "330108"], True),
    ],
)
def test_division_predicates(derivation: Derivation, values: list[Any], answer: bool) -> None:
    assert evaluate(derivation, values, today=date(2026, 6, 1)) is answer


@pytest.mark.parametrize(
    "predicate", ["age_at_least(18)", "resides_in(33)", "owns_property_in(33)"]
)
@pytest.mark.parametrize("values", [[], [None]], ids=["no record", "no value"])
def test_no_record_or_no_value_is_false(predicate: str, values: list[Any]) -> None:
    derivation = parse_derivation(predicate)
    assert derivation is not None
    assert evaluate(derivation, values, today=date(2026, 6, 1)) is False


@pytest.mark.parametrize(
    ("derivation", "values"),
    [
        (Derivation("resides_in", "330106"), ["330106", "110105"]),
        (ADULT, ["2000-01-01", "2020-01-01"]),
    ],
)
def test_one_record_predicates_refuse_conflicting_records(
    derivation: Derivation, values: list[str]
) -> None:
    with pytest.raises(ConflictingRecords) as excinfo:
        evaluate(derivation, values, today=date(2026, 6, 1))
    assert excinfo.value.code == "conflicting_records"
    assert all(value not in message_of(excinfo) for value in values)


def test_a_birth_date_that_is_not_a_date_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="needs an ISO birth date") as excinfo:
        evaluate(ADULT, ["1949/12/31"], today=date(2026, 6, 1))
    assert "1949" not in message_of(excinfo)


def test_a_division_that_is_not_text_is_refused() -> None:
    with pytest.raises(ValueError, match="division code as text"):
        evaluate(Derivation("resides_in", "33"), [330106], today=date(2026, 6, 1))


@pytest.mark.parametrize(
    "derivation",
    [Derivation("age_at_least", "eighteen"), Derivation("resides_in", "3"), Derivation("x", "1")],
)
def test_evaluate_checks_a_derivation_it_did_not_parse(derivation: Derivation) -> None:
    with pytest.raises(InvalidAttribute):
        evaluate(derivation, ["2000-01-01"], today=date(2026, 6, 1))
