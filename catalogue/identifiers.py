"""Pure validators for Chinese identifiers used in catalogue records.

Three identifier families are covered:

* **Resident identity number** (公民身份号码, GB 11643-1999): 18 characters made of a
  6-digit address code, an 8-digit birth date ``YYYYMMDD``, a 3-digit sequence code (odd
  for male, even for female) and an ISO 7064 MOD 11-2 check character (``0``-``9`` or
  ``X``).  These numbers are personal data: nothing in this module ever puts one into an
  exception message, and :class:`ResidentId` masks the number in its ``repr``.
* **Unified social credit code** (统一社会信用代码, GB 32100-2015): 18 characters from the
  31-character alphabet ``0-9`` plus upper-case letters other than I, O, Z, S and V, ending
  in a MOD 31 check character.  Real, officially issued codes exist whose check character
  is wrong, so :func:`check_uscc` reports rather than raises, and callers decide whether to
  warn or reject.
* **Administrative division code** (行政区划代码, GB/T 2260): 6 digits whose first two
  digits name a province-level division (see :data:`PROVINCES`).

Everything here is pure (no I/O, no clock reads unless a caller omits ``today``) and uses
only the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from string import ascii_lowercase, ascii_uppercase
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "PROVINCES",
    "RESIDENT_ID_ERROR_REASONS",
    "USCC_ALPHABET",
    "ResidentId",
    "ResidentIdError",
    "ResidentIdErrorReason",
    "Sex",
    "UsccCheck",
    "check_uscc",
    "is_division_code",
    "make_resident_id",
    "parse_resident_id",
    "province_of",
    "resident_id_check_char",
    "uscc_check_char",
]

# ---------------------------------------------------------------------------
# Administrative division codes (GB/T 2260)
# ---------------------------------------------------------------------------

PROVINCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "11": "北京市",
        "12": "天津市",
        "13": "河北省",
        "14": "山西省",
        "15": "内蒙古自治区",
        "21": "辽宁省",
        "22": "吉林省",
        "23": "黑龙江省",
        "31": "上海市",
        "32": "江苏省",
        "33": "浙江省",
        "34": "安徽省",
        "35": "福建省",
        "36": "江西省",
        "37": "山东省",
        "41": "河南省",
        "42": "湖北省",
        "43": "湖南省",
        "44": "广东省",
        "45": "广西壮族自治区",
        "46": "海南省",
        "50": "重庆市",
        "51": "四川省",
        "52": "贵州省",
        "53": "云南省",
        "54": "西藏自治区",
        "61": "陕西省",
        "62": "甘肃省",
        "63": "青海省",
        "64": "宁夏回族自治区",
        "65": "新疆维吾尔自治区",
        "71": "台湾省",
        "81": "香港特别行政区",
        "82": "澳门特别行政区",
    }
)
"""Province-level division codes (first two digits of a GB/T 2260 code) to Chinese names."""


def _is_ascii_digits(value: str, length: int) -> bool:
    # str.isdigit alone accepts full-width and other Unicode digits; insist on ASCII.
    return len(value) == length and value.isascii() and value.isdigit()


def is_division_code(value: str) -> bool:
    """Return whether *value* is a 6-digit division code with a known province prefix.

    Only the structure and the province-level prefix are checked; whether the prefecture
    and county digits name a division that exists (or existed) is not.
    """
    return _is_ascii_digits(value, 6) and value[:2] in PROVINCES


def province_of(code: str) -> str:
    """Return the 2-digit province-level code of a division code.

    Raises :class:`ValueError` if *code* is not a division code (see
    :func:`is_division_code`).
    """
    if not is_division_code(code):
        raise ValueError("not a valid administrative division code")
    return code[:2]


# ---------------------------------------------------------------------------
# Resident identity numbers (GB 11643-1999)
# ---------------------------------------------------------------------------

Sex = Literal["male", "female"]
ResidentIdErrorReason = Literal["length", "characters", "division", "birth_date", "checksum"]

RESIDENT_ID_ERROR_REASONS: Final[frozenset[str]] = frozenset(
    {"length", "characters", "division", "birth_date", "checksum"}
)

_RESIDENT_ID_LENGTH: Final = 18
_RESIDENT_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK_CHARS: Final = "10X98765432"

# Fixed messages: an error must never echo the number (or any part of it) back.
_RESIDENT_ID_MESSAGES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "length": "resident identity number must be 18 characters long",
        "characters": "resident identity number must be 17 ASCII digits then a digit or X",
        "division": "resident identity number has an unknown administrative division code",
        "birth_date": "resident identity number has an invalid or future birth date",
        "checksum": "resident identity number has a wrong check character",
    }
)


class ResidentIdError(ValueError):
    """A resident identity number failed validation.

    ``reason`` is one of :data:`RESIDENT_ID_ERROR_REASONS`.  The message is fixed per
    reason and never contains the offending number.
    """

    reason: ResidentIdErrorReason

    def __init__(self, reason: ResidentIdErrorReason, message: str | None = None) -> None:
        if reason not in RESIDENT_ID_ERROR_REASONS:
            raise ValueError(f"unknown ResidentIdError reason: {reason!r}")
        self.reason = reason
        super().__init__(_RESIDENT_ID_MESSAGES[reason] if message is None else message)

    def __reduce__(self) -> tuple[type[ResidentIdError], tuple[ResidentIdErrorReason, str]]:
        # Keep pickling (e.g. across process pools) working despite the custom signature.
        return (type(self), (self.reason, str(self)))


def _mask_resident_number(number: str) -> str:
    if len(number) != _RESIDENT_ID_LENGTH:
        return "*" * len(number)
    return number[:6] + "*" * 8 + number[-4:]


@dataclass(frozen=True, repr=False)
class ResidentId:
    """A parsed, validated resident identity number.

    ``repr`` (and therefore ``str``) shows only a masked number: the first six and last
    four characters are kept and the birth date in between is replaced by ``*``.  Other
    fields are left out of ``repr`` because the birth date would undo the masking.
    """

    number: str
    """The normalised 18-character number (a trailing ``x`` is upper-cased)."""
    division: str
    """The 6-digit address (administrative division) code."""
    birth_date: date
    sex: Sex

    @property
    def masked(self) -> str:
        """The number with its birth-date digits replaced by ``*``, safe for logs."""
        return _mask_resident_number(self.number)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(number={self.masked!r})"


def resident_id_check_char(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character (``0``-``9`` or ``X``) for 17 digits.

    Raises :class:`ResidentIdError` (reason ``"length"`` or ``"characters"``) if *first17*
    is not exactly 17 ASCII digits.
    """
    if len(first17) != _RESIDENT_ID_LENGTH - 1:
        raise ResidentIdError("length", "expected exactly 17 characters")
    if not _is_ascii_digits(first17, _RESIDENT_ID_LENGTH - 1):
        raise ResidentIdError("characters", "expected 17 ASCII digits")
    total = sum(int(ch) * w for ch, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK_CHARS[total % 11]


def _parse_birth_date(digits: str) -> date | None:
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def parse_resident_id(value: str, *, today: date | None = None) -> ResidentId:
    """Validate and decode an 18-character resident identity number.

    A trailing lower-case ``x`` is accepted and normalised to ``X``; no other
    normalisation (such as stripping whitespace or converting full-width digits) is done.
    The birth date must be a real calendar date no later than *today* (default: the
    current local date).

    Checks run in the order length, characters, division, birth date, checksum; the first
    failure raises :class:`ResidentIdError` with the matching ``reason``.
    """
    if len(value) != _RESIDENT_ID_LENGTH:
        raise ResidentIdError("length")
    first17, last = value[:17], value[17]
    if last == "x":
        last = "X"
    if not _is_ascii_digits(first17, 17) or not (last == "X" or _is_ascii_digits(last, 1)):
        raise ResidentIdError("characters")
    division = first17[:6]
    if not is_division_code(division):
        raise ResidentIdError("division")
    birth = _parse_birth_date(first17[6:14])
    if today is None:
        today = date.today()
    elif isinstance(today, datetime):
        today = today.date()
    if birth is None or birth > today:
        raise ResidentIdError("birth_date")
    if resident_id_check_char(first17) != last:
        raise ResidentIdError("checksum")
    sex: Sex = "male" if int(first17[16]) % 2 == 1 else "female"
    return ResidentId(number=first17 + last, division=division, birth_date=birth, sex=sex)


def make_resident_id(division: str, birth: date, sequence: int) -> str:
    """Build a structurally valid resident identity number, for synthetic test data.

    *sequence* is the 3-digit sequence code (0-999); odd values give a male number, even
    values a female one.  *birth* is not compared with the current date, so a future
    *birth* yields a number that :func:`parse_resident_id` rejects unless given a later
    ``today``.  Raises :class:`ValueError` for a bad division code or sequence.
    """
    if not is_division_code(division):
        raise ValueError("division must be a 6-digit code with a known province prefix")
    if isinstance(sequence, bool) or not 0 <= sequence <= 999:
        raise ValueError("sequence must be an integer between 0 and 999")
    first17 = f"{division}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return first17 + resident_id_check_char(first17)


# ---------------------------------------------------------------------------
# Unified social credit codes (GB 32100-2015)
# ---------------------------------------------------------------------------

USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters allowed in a unified social credit code, in value order 0..30."""

_USCC_LENGTH: Final = 18
_USCC_VALUES: Final[Mapping[str, int]] = MappingProxyType(
    {ch: i for i, ch in enumerate(USCC_ALPHABET)}
)
_USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ASCII_UPPER: Final = str.maketrans(ascii_lowercase, ascii_uppercase)


@dataclass(frozen=True)
class UsccCheck:
    """The outcome of :func:`check_uscc`.

    ``well_formed`` is whether the code has the right length and alphabet (with digits in
    the division segment); ``check_ok`` is whether it is well formed *and* its check
    character matches.  ``problem`` is a human-readable description when either is
    false, else ``None``.
    """

    value: str
    """The input with ASCII lower-case letters upper-cased."""
    well_formed: bool
    check_ok: bool
    problem: str | None


def _uscc_check_char(first17: str) -> str:
    total = sum(_USCC_VALUES[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters of a code.

    ASCII lower-case letters are treated as upper-case.  Raises :class:`ValueError` if
    *first17* is not 17 characters from :data:`USCC_ALPHABET`.
    """
    normalised = first17.translate(_ASCII_UPPER)
    if len(normalised) != _USCC_LENGTH - 1:
        raise ValueError("expected exactly 17 characters")
    if any(ch not in _USCC_VALUES for ch in normalised):
        raise ValueError("characters must come from the unified social credit code alphabet")
    return _uscc_check_char(normalised)


def _uscc_structure_problem(code: str) -> str | None:
    if len(code) != _USCC_LENGTH:
        return f"expected {_USCC_LENGTH} characters, got {len(code)}"
    for position, ch in enumerate(code, start=1):
        if ch not in _USCC_VALUES:
            return (
                f"character at position {position} is not allowed "
                "(use 0-9 and A-Z except I, O, Z, S, V)"
            )
    if not _is_ascii_digits(code[2:8], 6):
        return "positions 3-8 (administrative division code) must be digits"
    return None


def check_uscc(value: str) -> UsccCheck:
    """Check a unified social credit code without raising.

    A malformed code (wrong length, characters outside :data:`USCC_ALPHABET`, or a
    non-numeric division segment) gives ``well_formed=False``.  A well-formed code whose
    check character is wrong gives ``well_formed=True, check_ok=False``: such codes have
    been issued in practice, so callers should usually warn rather than reject.
    """
    code = value.translate(_ASCII_UPPER)
    problem = _uscc_structure_problem(code)
    if problem is not None:
        return UsccCheck(value=code, well_formed=False, check_ok=False, problem=problem)
    expected = _uscc_check_char(code[:17])
    if expected != code[17]:
        return UsccCheck(
            value=code,
            well_formed=True,
            check_ok=False,
            problem=f"check character is {code[17]!r}, expected {expected!r}",
        )
    return UsccCheck(value=code, well_formed=True, check_ok=True, problem=None)
