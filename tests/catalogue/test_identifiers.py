"""Tests for catalogue.identifiers: resident IDs, USCCs and division codes."""

from __future__ import annotations

import pickle
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalogue.identifiers import (
    PROVINCES,
    RESIDENT_ID_ERROR_REASONS,
    USCC_ALPHABET,
    ResidentId,
    ResidentIdError,
    check_uscc,
    is_division_code,
    make_resident_id,
    parse_resident_id,
    province_of,
    resident_id_check_char,
    uscc_check_char,
)

TODAY = date(2024, 6, 1)

# The two worked examples printed in GB 11643-1999.
STANDARD_FEMALE = "11010519491231002X"
STANDARD_MALE = "440524188001010014"

# Published unified social credit codes whose check characters verify.
REAL_USCCS = [
    "91110000802100433B",
    "914403001922038216",
    "9144030071526726XG",
    "91330100799655058B",
    "91100000100003962T",
    "91110108558521630L",
]


def with_check(first17: str) -> str:
    """Append the correct check character, so only the intended defect remains."""
    return first17 + resident_id_check_char(first17)


def reason_of(value: str, *, today: date = TODAY) -> str:
    with pytest.raises(ResidentIdError) as excinfo:
        parse_resident_id(value, today=today)
    return excinfo.value.reason


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

division_codes = st.builds(
    lambda province, rest: province + rest,
    st.sampled_from(sorted(PROVINCES)),
    st.from_regex(r"\A[0-9]{4}\Z"),
)
birth_dates = st.dates(min_value=date(1, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)
valid_resident_ids = st.builds(make_resident_id, division_codes, birth_dates, sequences)


@st.composite
def valid_usccs(draw: st.DrawFn) -> str:
    head = draw(st.text(alphabet=USCC_ALPHABET, min_size=2, max_size=2))
    division = draw(st.from_regex(r"\A[0-9]{6}\Z"))
    org = draw(st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9))
    first17 = head + division + org
    return first17 + uscc_check_char(first17)


# ---------------------------------------------------------------------------
# Resident identity numbers: known examples
# ---------------------------------------------------------------------------


def test_standard_female_example_parses() -> None:
    rid = parse_resident_id(STANDARD_FEMALE, today=TODAY)
    assert rid.number == STANDARD_FEMALE
    assert rid.division == "110105"
    assert rid.birth_date == date(1949, 12, 31)
    assert rid.sex == "female"


def test_standard_male_example_parses() -> None:
    rid = parse_resident_id(STANDARD_MALE, today=TODAY)
    assert rid.division == "440524"
    assert rid.birth_date == date(1880, 1, 1)
    assert rid.sex == "male"


def test_lowercase_x_is_normalised() -> None:
    rid = parse_resident_id(STANDARD_FEMALE.lower(), today=TODAY)
    assert rid.number == STANDARD_FEMALE
    assert rid == parse_resident_id(STANDARD_FEMALE, today=TODAY)


def test_check_char_of_standard_examples() -> None:
    assert resident_id_check_char(STANDARD_FEMALE[:17]) == "X"
    assert resident_id_check_char(STANDARD_MALE[:17]) == "4"


def test_today_defaults_to_current_date() -> None:
    assert parse_resident_id(STANDARD_FEMALE).birth_date == date(1949, 12, 31)


def test_today_accepts_datetime() -> None:
    rid = parse_resident_id(STANDARD_FEMALE, today=datetime(2024, 6, 1, 12, 0))
    assert rid.sex == "female"


def test_birth_on_today_is_accepted() -> None:
    number = make_resident_id("110105", TODAY, 1)
    assert parse_resident_id(number, today=TODAY).birth_date == TODAY


def test_leap_day_is_accepted() -> None:
    assert parse_resident_id(with_check("11010520000229001"), today=TODAY).birth_date == date(
        2000, 2, 29
    )


# ---------------------------------------------------------------------------
# Resident identity numbers: each failure reason
# ---------------------------------------------------------------------------

BAD_RESIDENT_IDS = [
    # length
    pytest.param("", "length", id="empty"),
    pytest.param(STANDARD_FEMALE[:17], "length", id="17-chars"),
    pytest.param(STANDARD_FEMALE + "1", "length", id="19-chars"),
    pytest.param("110105491231002", "length", id="old-15-digit-format"),
    pytest.param(" " + STANDARD_FEMALE, "length", id="leading-space"),
    # characters
    pytest.param("11010519491231002Y", "characters", id="bad-check-letter"),
    pytest.param("1101051949123100X2", "characters", id="x-not-last"),
    pytest.param("11010519491231002 ", "characters", id="trailing-space-padded"),
    pytest.param("１１０１０５19491231002X", "characters", id="fullwidth-digits"),
    pytest.param("١١٠١٠٥19491231002X", "characters", id="arabic-indic-digits"),
    pytest.param("1101051949-231002X", "characters", id="hyphen"),
    # division
    pytest.param(with_check("00010519491231002"), "division", id="province-00"),
    pytest.param(with_check("99010519491231002"), "division", id="province-99"),
    pytest.param(with_check("72010519491231002"), "division", id="province-72"),
    pytest.param(with_check("83000019491231002"), "division", id="province-83"),
    # birth_date
    pytest.param(with_check("11010519490230002"), "birth_date", id="feb-30"),
    pytest.param(with_check("11010519000229002"), "birth_date", id="1900-not-leap"),
    pytest.param(with_check("11010519491331002"), "birth_date", id="month-13"),
    pytest.param(with_check("11010519490031002"), "birth_date", id="month-00"),
    pytest.param(with_check("11010519491200002"), "birth_date", id="day-00"),
    pytest.param(with_check("11010500001231002"), "birth_date", id="year-0000"),
    pytest.param(with_check("11010520240602002"), "birth_date", id="tomorrow"),
    pytest.param(with_check("11010530000101002"), "birth_date", id="far-future"),
    # checksum
    pytest.param("110105194912310021", "checksum", id="wrong-digit-check"),
    pytest.param("44052418800101001X", "checksum", id="wrong-x-check"),
    pytest.param("11010519491231003X", "checksum", id="sequence-changed"),
]


@pytest.mark.parametrize(("value", "reason"), BAD_RESIDENT_IDS)
def test_bad_resident_ids_report_reason(value: str, reason: str) -> None:
    assert reason_of(value) == reason


def test_every_reason_is_covered() -> None:
    covered = {p.values[1] for p in BAD_RESIDENT_IDS}
    assert covered == RESIDENT_ID_ERROR_REASONS


def test_resident_id_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="check character"):
        parse_resident_id("110105194912310021", today=TODAY)


@pytest.mark.parametrize(("value", "reason"), BAD_RESIDENT_IDS)
def test_error_message_never_contains_the_number(value: str, reason: str) -> None:
    with pytest.raises(ResidentIdError) as excinfo:
        parse_resident_id(value, today=TODAY)
    exc = excinfo.value
    rendered = [str(exc), repr(exc), *map(str, exc.args)]
    if len(value) >= 6:
        for text in rendered:
            assert value not in text
            assert value.strip() not in text
            # Nor the birth-date digits on their own.
            if len(value) >= 14:
                assert value[6:14] not in text
    assert exc.__cause__ is None
    assert exc.__suppress_context__ or exc.__context__ is None


def test_resident_id_error_pickles() -> None:
    err = ResidentIdError("checksum")
    clone = pickle.loads(pickle.dumps(err))  # noqa: S301 - round-tripping our own object
    assert isinstance(clone, ResidentIdError)
    assert clone.reason == "checksum"
    assert str(clone) == str(err)


def test_resident_id_error_rejects_unknown_reason() -> None:
    with pytest.raises(ValueError, match="unknown ResidentIdError reason"):
        ResidentIdError("nonsense")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Resident identity numbers: masking
# ---------------------------------------------------------------------------


def test_repr_masks_number() -> None:
    rid = parse_resident_id(STANDARD_FEMALE, today=TODAY)
    assert repr(rid) == "ResidentId(number='110105********002X')"
    assert str(rid) == repr(rid)
    assert f"{rid}" == repr(rid)
    assert rid.masked == "110105********002X"
    for text in (repr(rid), str(rid), repr([rid]), repr({"id": rid})):
        assert STANDARD_FEMALE not in text
        assert "19491231" not in text
        assert "1949" not in text


def test_repr_masks_malformed_manual_instance() -> None:
    rid = ResidentId(number="12345", division="110105", birth_date=TODAY, sex="male")
    assert "12345" not in repr(rid)


def test_resident_id_is_frozen() -> None:
    rid = parse_resident_id(STANDARD_FEMALE, today=TODAY)
    with pytest.raises(AttributeError):
        rid.number = STANDARD_MALE  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Resident identity numbers: helpers
# ---------------------------------------------------------------------------


def test_make_resident_id_reproduces_standard_examples() -> None:
    assert make_resident_id("110105", date(1949, 12, 31), 2) == STANDARD_FEMALE
    assert make_resident_id("440524", date(1880, 1, 1), 1) == STANDARD_MALE


@pytest.mark.parametrize(
    ("division", "sequence"),
    [
        ("000000", 1),
        ("11010", 1),
        ("1101055", 1),
        ("11010a", 1),
        ("110105", -1),
        ("110105", 1000),
        ("110105", True),
    ],
)
def test_make_resident_id_rejects_bad_input(division: str, sequence: int) -> None:
    with pytest.raises(ValueError, match=r"division|sequence"):
        make_resident_id(division, date(1990, 1, 1), sequence)


@pytest.mark.parametrize(
    ("first17", "reason"),
    [
        ("1101051949123100", "length"),
        ("110105194912310022", "length"),
        ("1101051949123100X", "characters"),
    ],
)
def test_check_char_rejects_bad_input(first17: str, reason: str) -> None:
    with pytest.raises(ResidentIdError) as excinfo:
        resident_id_check_char(first17)
    assert excinfo.value.reason == reason
    assert first17 not in str(excinfo.value)


# ---------------------------------------------------------------------------
# Resident identity numbers: properties
# ---------------------------------------------------------------------------


def iso7064_mod11_2_ok(number: str) -> bool:
    """ISO 7064 MOD 11-2 by definition: sum of a_i * 2^(i-1) mod 11, i counted from the right
    (the check character is i = 1, X = 10), must be 1. Independent of the lookup table."""
    values = [10 if ch == "X" else int(ch) for ch in number]
    return sum(v * pow(2, 17 - k, 11) for k, v in enumerate(values)) % 11 == 1


def gb32100_ok(code: str) -> bool:
    """GB 32100 by definition: sum of value * 3^(i-1) mod 31 over the first 17 characters,
    plus the check value, must be 0 mod 31."""
    values = [USCC_ALPHABET.index(ch) for ch in code]
    return (sum(v * pow(3, k, 31) for k, v in enumerate(values[:17])) + values[17]) % 31 == 0


def test_resident_check_char_matches_definition_for_every_remainder() -> None:
    numbers = [make_resident_id("110105", date(1990, 1, 1), seq) for seq in range(1000)]
    assert {n[17] for n in numbers} == set("0123456789X")
    for number in numbers:
        assert iso7064_mod11_2_ok(number)
    assert iso7064_mod11_2_ok(STANDARD_FEMALE)
    assert iso7064_mod11_2_ok(STANDARD_MALE)


def test_uscc_check_char_matches_definition_for_every_remainder() -> None:
    codes = [
        prefix + uscc_check_char(prefix)
        for prefix in (f"91110000{n:09d}" for n in range(0, 3100, 7))
    ]
    assert {c[17] for c in codes} == set(USCC_ALPHABET)
    for code in codes:
        assert gb32100_ok(code)
    for code in REAL_USCCS:
        assert gb32100_ok(code)


@given(number=valid_resident_ids)
def test_generated_resident_ids_satisfy_definition(number: str) -> None:
    assert iso7064_mod11_2_ok(number)


@given(code=valid_usccs())
def test_generated_usccs_satisfy_definition(code: str) -> None:
    assert gb32100_ok(code)


@given(division=division_codes, birth=birth_dates, sequence=sequences)
def test_make_resident_id_round_trips(division: str, birth: date, sequence: int) -> None:
    number = make_resident_id(division, birth, sequence)
    rid = parse_resident_id(number, today=TODAY)
    assert rid.number == number
    assert rid.division == division
    assert rid.birth_date == birth
    assert rid.sex == ("male" if sequence % 2 else "female")


@given(number=valid_resident_ids)
def test_lowercase_check_char_round_trips(number: str) -> None:
    assert parse_resident_id(number.lower(), today=TODAY).number == number


@given(number=valid_resident_ids, data=st.data())
def test_any_single_digit_change_is_detected(number: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=17), label="position")
    replacements = [c for c in "0123456789" if c != number[position]]
    replacement = data.draw(st.sampled_from(replacements), label="replacement")
    mutated = number[:position] + replacement + number[position + 1 :]
    # MOD 11-2 alone catches it, whatever other check might fire first.
    assert resident_id_check_char(mutated[:17]) != mutated[17]
    with pytest.raises(ResidentIdError):
        parse_resident_id(mutated, today=TODAY)


@given(number=valid_resident_ids, data=st.data())
def test_any_adjacent_transposition_is_detected(number: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=15), label="position")
    a, b = number[position], number[position + 1]
    if a == b:
        return
    mutated = number[:position] + b + a + number[position + 2 :]
    assert resident_id_check_char(mutated[:17]) != mutated[17]


@given(value=st.text(max_size=24))
def test_parse_only_ever_raises_resident_id_error(value: str) -> None:
    try:
        rid = parse_resident_id(value, today=TODAY)
    except ResidentIdError as exc:
        reason: str | None = exc.reason
    else:
        reason = None
        assert len(rid.number) == 18
    assert reason is None or reason in RESIDENT_ID_ERROR_REASONS


# ---------------------------------------------------------------------------
# Unified social credit codes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_USCCS)
def test_real_usccs_pass(code: str) -> None:
    assert check_uscc(code) == check_uscc(code.lower())
    result = check_uscc(code)
    assert result.value == code
    assert result.well_formed
    assert result.check_ok
    assert result.problem is None
    assert uscc_check_char(code[:17]) == code[17]


def test_uscc_alphabet() -> None:
    assert len(USCC_ALPHABET) == 31
    assert not set("IOZSV") & set(USCC_ALPHABET)


def test_uscc_wrong_check_char_is_well_formed_but_flagged() -> None:
    result = check_uscc("91110000802100433C")
    assert result.well_formed
    assert not result.check_ok
    assert result.problem is not None
    assert "'B'" in result.problem


def test_uscc_check_zero_remainder_maps_to_zero() -> None:
    # A weighted sum divisible by 31 gives 31 - 0 = 31, which wraps to check char "0".
    first17 = "00000000000000000"
    assert uscc_check_char(first17) == "0"
    assert check_uscc(first17 + "0").check_ok


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("", id="empty"),
        pytest.param("91110000802100433", id="17-chars"),
        pytest.param("91110000802100433BB", id="19-chars"),
        pytest.param("91110000802100433I", id="letter-I"),
        pytest.param("91110000802100O33B", id="letter-O"),
        pytest.param("9111000080210043SB", id="letter-S"),
        pytest.param("9111000080210043VB", id="letter-V"),
        pytest.param("9111000080210043ZB", id="letter-Z"),
        pytest.param("91110000-02100433B", id="hyphen"),
        pytest.param("９1110000802100433B", id="fullwidth-digit"),
        pytest.param("911A0000802100433B", id="letter-in-division"),
    ],
)
def test_malformed_usccs(code: str) -> None:
    result = check_uscc(code)
    assert not result.well_formed
    assert not result.check_ok
    assert result.problem


def test_uscc_check_char_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="17 characters"):
        uscc_check_char("9111000080210043")
    with pytest.raises(ValueError, match="alphabet"):
        uscc_check_char("9111000080210043I")
    assert uscc_check_char("91110000802100433".lower()) == "B"


@given(code=valid_usccs())
def test_generated_usccs_pass(code: str) -> None:
    result = check_uscc(code)
    assert result.well_formed
    assert result.check_ok
    assert check_uscc(code.lower()) == result


@given(code=valid_usccs(), data=st.data())
def test_any_single_uscc_char_change_fails_check(code: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=17), label="position")
    replacements = [c for c in USCC_ALPHABET if c != code[position]]
    replacement = data.draw(st.sampled_from(replacements), label="replacement")
    mutated = code[:position] + replacement + code[position + 1 :]
    result = check_uscc(mutated)
    assert not result.check_ok
    assert result.problem is not None


@given(value=st.text(max_size=24))
def test_check_uscc_never_raises(value: str) -> None:
    result = check_uscc(value)
    assert result.check_ok <= result.well_formed
    assert (result.problem is None) == result.check_ok


# ---------------------------------------------------------------------------
# Administrative division codes
# ---------------------------------------------------------------------------


def test_provinces_mapping() -> None:
    assert len(PROVINCES) == 34
    assert PROVINCES["11"] == "北京市"
    assert PROVINCES["12"] == "天津市"
    assert PROVINCES["44"] == "广东省"
    assert PROVINCES["65"] == "新疆维吾尔自治区"
    assert PROVINCES["82"] == "澳门特别行政区"
    with pytest.raises(TypeError):
        PROVINCES["99"] = "x"  # type: ignore[index]


@pytest.mark.parametrize("code", ["110000", "110105", "440524", "820000", "710000", "650102"])
def test_valid_division_codes(code: str) -> None:
    assert is_division_code(code)
    assert province_of(code) == code[:2]


@pytest.mark.parametrize(
    "code", ["", "11010", "1101050", "000000", "990000", "830000", "11010a", "１１0105", " 110105"]
)
def test_invalid_division_codes(code: str) -> None:
    assert not is_division_code(code)
    with pytest.raises(ValueError, match="division"):
        province_of(code)
