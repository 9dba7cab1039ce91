"""How a permitted value leaves the hub, and the predicates a derived attribute answers.

Release transforms (数据脱敏), one pure function each, dispatched by :func:`apply_release`:

* ``clear``: the value unchanged;
* ``mask_id``: an identifier with its first 6 and last 4 characters kept (``110105********002X``);
* ``mask_name``: a name with only its surname kept (``张*``, ``欧阳**``), element-wise over a list;
* ``hash``: ``<function>:<base64url>``, a keyed hash under the consumer's key of the value's
  canonical JSON, so one consumer can match values without seeing them and two consumers cannot
  join their answers; the function comes with the key (:class:`HashKey`): HMAC-SHA-256
  (``hmac-sha256:``, :data:`HMAC_SHA256`) under the ``intl`` crypto profile, HMAC-SM3
  (``hmac-sm3:``) under ``gm``, which the exchange hands in, as this package knows no profile;
* ``year``: an ISO date or date-time released as its year.

Derived attributes (``household.age_at_least(18)``) answer true or false and never the value:
:func:`parse_derivation` reads the ``predicate(argument)`` suffix, :data:`DERIVATION_BASE` names
the field each predicate reads, and :func:`evaluate` answers over the base field's value in each
source record.

No function here puts a value into an exception message: errors name the transform and what it
needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final, overload

from policies.errors import ConflictingRecords, InvalidAttribute
from policies.model import Derivation, Release

__all__ = [
    "COMPOUND_SURNAMES",
    "DERIVATION_BASE",
    "HMAC_SHA256",
    "MIN_HASH_KEY_BYTES",
    "HashKey",
    "KeyedHashFunction",
    "apply_release",
    "evaluate",
    "keyed_hash",
    "mask_id",
    "mask_name",
    "parse_derivation",
    "year",
]

# ---------------------------------------------------------------------------
# Release transforms
# ---------------------------------------------------------------------------

_ID_KEPT_HEAD: Final = 6
_ID_KEPT_TAIL: Final = 4
_ID_MIN_LENGTH: Final = 15  # a first-generation resident ID; anything shorter is masked whole
MIN_HASH_KEY_BYTES: Final = 16

COMPOUND_SURNAMES: Final = frozenset(
    {
        "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "夏侯",
        "轩辕", "令狐", "宇文", "司徒", "司空", "端木", "南宫", "呼延", "钟离", "赫连", "申屠",
        "澹台", "万俟",
    }
)  # fmt: skip


def mask_id(value: str) -> str:
    """Keep the first 6 and last 4 characters of an identifier and star the middle.

    A value shorter than 15 characters, or with anything but ASCII letters and digits, is
    starred whole: the kept parts would give too much of it away.
    """
    if not isinstance(value, str):
        raise TypeError(f"mask_id needs text, not {type(value).__name__}")
    if len(value) < _ID_MIN_LENGTH or not (value.isascii() and value.isalnum()):
        return "*" * len(value)
    hidden = len(value) - _ID_KEPT_HEAD - _ID_KEPT_TAIL
    return value[:_ID_KEPT_HEAD] + "*" * hidden + value[-_ID_KEPT_TAIL:]


@overload
def mask_name(value: str) -> str: ...
@overload
def mask_name(value: list[str] | tuple[str, ...]) -> list[str]: ...
def mask_name(value: str | list[str] | tuple[str, ...]) -> str | list[str]:
    """Keep the surname (姓) and star the given name: ``张三`` → ``张*``, ``欧阳娜娜`` → ``欧阳**``.

    A list (several owners) is masked name by name. A one-character name is starred whole.
    """
    if isinstance(value, list | tuple):
        return [_mask_one_name(name) for name in value]
    return _mask_one_name(value)


def _mask_one_name(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"mask_name needs text, not {type(value).__name__}")
    name = value.strip()
    kept = 2 if len(name) > 2 and name[:2] in COMPOUND_SURNAMES else 1
    if len(name) <= kept:
        return "*" * len(name)
    return name[:kept] + "*" * (len(name) - kept)


@dataclass(frozen=True)
class KeyedHashFunction:
    """A keyed hash a ``hash`` release may be made with: the name that prefixes what is released
    (``hmac-sha256``, ``hmac-sm3``) and its MAC, ``mac(key, message) -> digest``."""

    name: str
    mac: Callable[[bytes, bytes], bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if not _FUNCTION_NAME.fullmatch(self.name):
            raise ValueError("a keyed hash's name is lowercase letters, digits and hyphens")


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


_FUNCTION_NAME: Final = re.compile(r"[a-z][a-z0-9-]*")
HMAC_SHA256: Final = KeyedHashFunction("hmac-sha256", _hmac_sha256)
"""The ``intl`` profile's keyed hash; the ``gm`` profile's (HMAC-SM3) is the exchange's to make."""


@dataclass(frozen=True)
class HashKey:
    """A key for ``hash`` releases and the keyed hash it is used with: the hub's release key,
    and each consumer's (:meth:`for_consumer`) that a release is made under."""

    key: bytes = field(repr=False)
    function: KeyedHashFunction

    def __post_init__(self) -> None:
        if len(self.key) < MIN_HASH_KEY_BYTES:
            raise ValueError(f"the hash key must be at least {MIN_HASH_KEY_BYTES} bytes")

    def for_consumer(self, consumer: str) -> HashKey:
        """The key *consumer* hashes under, derived from this (the hub's release) key with the
        same function, ``function.mac(key, consumer)``: keyed hashes differ per consumer, so
        two consumers cannot join their answers on them."""
        return HashKey(self.function.mac(self.key, consumer.encode("utf-8")), self.function)


def keyed_hash(key: HashKey, value: Any) -> str:
    """``<function>:`` + unpadded base64url of the key's MAC over the canonical JSON of value
    (``hmac-sha256:…`` with :data:`HMAC_SHA256`).

    The canonical form sorts keys, drops insignificant whitespace and keeps non-ASCII text as
    UTF-8, so the same value always hashes the same under one key.
    """
    try:
        canonical = json.dumps(
            value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError):
        raise ValueError("the value has no canonical JSON form") from None
    digest = key.function.mac(key.key, canonical.encode("utf-8"))
    return f"{key.function.name}:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def year(value: str | date) -> int:
    """The year of an ISO 8601 date or date-time (``2008-02-29`` → 2008)."""
    if isinstance(value, date):  # a datetime is a date too
        return value.year
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).year
        except ValueError:
            pass
    raise ValueError("year needs an ISO date or date-time")


_ELEMENTWISE: Final[Mapping[Release, Callable[[Any], Any]]] = MappingProxyType(
    {Release.MASK_ID: mask_id, Release.MASK_NAME: mask_name, Release.YEAR: year}
)


def apply_release(release: Release, value: Any, *, hash_key: HashKey) -> Any:
    """The value as ``release`` lets it leave the hub.

    ``None`` (no value in the source) stays ``None``. Masks and ``year`` apply to each element
    of a list; ``hash`` covers the whole value. ``derived`` is answered by :func:`evaluate`,
    never by releasing the value, so asking for it here is a programming error.
    """
    if release is Release.DERIVED:
        raise ValueError("a derived attribute is answered by evaluate(), not released")
    if value is None or release is Release.CLEAR:
        return value
    if release is Release.HASH:
        return keyed_hash(hash_key, value)
    transform = _ELEMENTWISE[release]
    if isinstance(value, list | tuple):
        return [None if item is None else transform(item) for item in value]
    return transform(value)


# ---------------------------------------------------------------------------
# Derived predicates
# ---------------------------------------------------------------------------

_MAX_AGE: Final = 150
_CALL = re.compile(r"(?:[^.()]+\.)?(?P<predicate>[a-z][a-z0-9_]*)\((?P<argument>[^()]*)\)")


def _age_argument(argument: str) -> str:
    if argument.isascii() and argument.isdigit() and int(argument) <= _MAX_AGE:
        return str(int(argument))
    raise InvalidAttribute(f"age_at_least needs a whole number of years from 0 to {_MAX_AGE}")


def _division_argument(argument: str) -> str:
    if argument.isascii() and argument.isdigit() and len(argument) in (2, 4, 6):
        return argument
    raise InvalidAttribute("the division prefix must be 2, 4 or 6 digits (GB/T 2260)")


def _birth_date(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).date()
        except ValueError:
            pass
    raise ValueError("age_at_least needs an ISO birth date")


def _is_age_at_least(value: object, argument: str, today: date) -> bool:
    born = _birth_date(value)
    if born is None:
        return False
    birthday_to_come = (today.month, today.day) < (born.month, born.day)
    return today.year - born.year - birthday_to_come >= int(argument)


def _is_in_division(value: object, argument: str, today: date) -> bool:
    if value is None:
        return False
    if not isinstance(value, str):
        raise ValueError("a division predicate needs the division code as text")
    return value.startswith(argument)


@dataclass(frozen=True)
class _Predicate:
    base: str  # the field name it reads
    argument: Callable[[str], str]  # the canonical argument, or InvalidAttribute
    holds: Callable[[object, str, date], bool]  # for one record's value
    any_record: bool  # true if any record holds; otherwise the records must agree


_PREDICATES: Final[Mapping[str, _Predicate]] = MappingProxyType(
    {
        "age_at_least": _Predicate("birth_date", _age_argument, _is_age_at_least, False),
        "resides_in": _Predicate("division", _division_argument, _is_in_division, False),
        "owns_property_in": _Predicate("division", _division_argument, _is_in_division, True),
    }
)

DERIVATION_BASE: Final[Mapping[str, str]] = MappingProxyType(
    {name: predicate.base for name, predicate in _PREDICATES.items()}
)


def _predicate(name: str) -> _Predicate:
    try:
        return _PREDICATES[name]
    except KeyError:
        known = ", ".join(sorted(_PREDICATES))
        raise InvalidAttribute(f"unknown predicate; known predicates: {known}") from None


def parse_derivation(text: str) -> Derivation | None:
    """The predicate of ``[namespace.]predicate(argument)``, or ``None`` for a plain field name.

    Raises :class:`~policies.errors.InvalidAttribute` for a malformed call, an unknown predicate
    or a bad argument (an age is 0 to 150; a division prefix is 2, 4 or 6 digits).
    """
    if "(" not in text and ")" not in text:
        return None
    call = _CALL.fullmatch(text)
    if call is None:
        raise InvalidAttribute("a derived attribute is written predicate(argument)")
    predicate = _predicate(call["predicate"])
    return Derivation(call["predicate"], predicate.argument(call["argument"]))


def evaluate(derivation: Derivation, values: Sequence[Any], *, today: date) -> bool:
    """Answer ``derivation`` over the base field's value in each source record.

    No record answers false. ``owns_property_in`` holds if any record's division has the
    prefix; ``age_at_least`` and ``resides_in`` read one record, and several records that
    disagree raise :class:`~policies.errors.ConflictingRecords`. A record without a value
    does not hold. Age counts whole years: the years since birth, less one if this year's
    birthday is still to come; someone born on 29 February turns a year older on 1 March in
    a common year.
    """
    predicate = _predicate(derivation.predicate)
    argument = predicate.argument(derivation.argument)
    answers = {predicate.holds(value, argument, today) for value in values}
    if predicate.any_record:
        return True in answers
    if len(answers) > 1:
        raise ConflictingRecords(f"the source's records disagree on {derivation.predicate}")
    return answers == {True}
