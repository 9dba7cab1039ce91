"""Mappings from a legacy source to catalogue fields (字段映射), and the value conversions.

A mapping document (``schemas/json/mapping.schema.json``) says where each catalogue field sits
in the source (a column, a byte span of a fixed-width line, or a JSON pointer) and how to read
it. Reading a raw value goes through the same steps for every adapter, in this order:

1. bytes are decoded with the mapping's charset (GBK, GB18030, UTF-8), strictly;
2. text is stripped of padding (ASCII and full-width spaces, NULs);
3. a NULL sentinel (``无``, ``0000-00-00``, the empty string) becomes ``None``;
4. ``values`` replaces exact source values by catalogue values before the format step (an ID
   card's ``长期`` → ``9999-12-31`` in a ``yyyymmdd`` field; the replacement is then formatted);
5. a code table translates source codes (``XB`` ``1`` → ``male``); an unknown code is an error;
6. a format turns the text into the catalogue's value (``YYYYMMDD`` → ISO date, decimals,
   integers, ``0``/``1`` booleans, fen → yuan, ``present``: true for any value that survived
   step 3, false for none), or a separator splits it into a list.

A mapping's ``when_absent`` gives the values of a subject the source has no row for, for
registries where absence is meaningful (no death registration row ⇒ ``deceased: false``):
:meth:`SourceMapping.absent_values` restricts it to the requested fields.

Errors never quote the value: it may be personal data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from schemas import explain_all, validator

__all__ = ["FieldMapping", "Locator", "MappingProblem", "SourceMapping", "parse_mapping"]

_PADDING = " \u3000\x00\t\r\n"

Format = Literal[
    "text",
    "yyyymmdd",
    "date",
    "datetime",
    "integer",
    "decimal",
    "boolean01",
    "fen_to_yuan",
    "present",
]


class MappingProblem(ValueError):
    """A value or a document the mapping cannot accept; ``where`` names the field, never the
    value. Adapters turn it into their typed errors."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True)
class Locator:
    """Where a value is: a column, a byte span (fixed width) or a JSON pointer."""

    column: str | None = None
    start: int | None = None
    length: int | None = None
    pointer: str | None = None

    @classmethod
    def parse(cls, document: Mapping[str, Any]) -> Locator:
        return cls(
            column=document.get("column"),
            start=document.get("start"),
            length=document.get("length"),
            pointer=document.get("pointer"),
        )

    @property
    def label(self) -> str:
        if self.column is not None:
            return self.column
        if self.pointer is not None:
            return self.pointer
        return f"bytes {self.start}+{self.length}"


@dataclass(frozen=True)
class FieldMapping:
    """How one catalogue field is read from the source."""

    name: str
    locator: Locator
    codes: Mapping[str, Any] | None = None
    format: Format = "text"
    nulls: frozenset[str] = frozenset()
    split: str | None = None
    values: Mapping[str, Any] | None = None

    def convert(self, raw: object, charset: str) -> Any:
        """The catalogue value of a raw source value (steps 1-6 of the module docstring)."""
        value = _decode(raw, charset, self.name)
        if isinstance(value, str):
            value = value.strip(_PADDING)
            if value == "" or value in self.nulls:
                value = None
        if self.format == "present":
            return value is not None
        if value is None:
            return None
        if self.values is not None and str(value) in self.values:
            value = self.values[str(value)]
        if self.codes is not None:
            key = str(value)
            if key not in self.codes:
                raise MappingProblem(self.name, "a code that is not in the code table")
            return self.codes[key]
        if self.split is not None:
            return [part.strip(_PADDING) for part in str(value).split(self.split) if part.strip()]
        return _FORMATS[self.format](value, self.name)


@dataclass(frozen=True)
class SourceMapping:
    """A parsed mapping document."""

    name: str
    adapter: str
    key: Locator
    fields: Mapping[str, FieldMapping]
    charset: str = "utf-8"
    connection: str | None = None
    table: str | None = None
    file: str | None = None
    format: str | None = None
    url: str | None = None
    watermark: Locator | None = None
    as_of: Locator | None = None
    when_absent: Mapping[str, Any] | None = None
    records: str = "one"  # "many": a subject may have several records (a person's properties)
    key_split: str | None = None  # one key value naming several subjects (co-owners)
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def locators(self) -> list[Locator]:
        """Every place the mapping reads from: key, fields, watermark, as-of."""
        found = [self.key, *(f.locator for f in self.fields.values())]
        return found + [m for m in (self.watermark, self.as_of) if m is not None]

    @property
    def many(self) -> bool:
        """Whether a subject may have several records."""
        return self.records == "many"

    def absent_values(self, fields: Sequence[str]) -> dict[str, Any] | None:
        """The requested fields' values for a subject without a row, or None when absence
        means "no record" (the mapping has no ``when_absent``). Unlisted fields are None."""
        if self.when_absent is None:
            return None
        return {name: self.when_absent.get(name) for name in fields}


def parse_mapping(document: Mapping[str, Any]) -> SourceMapping:
    """Check a mapping document against its schema and build it; :class:`MappingProblem`."""
    problems = explain_all(validator("mapping").iter_errors(dict(document)))
    if problems:
        first = problems[0]
        raise MappingProblem(first["pointer"] or "/", first["detail"])
    fields = {
        name: FieldMapping(
            name=name,
            locator=Locator.parse(spec),
            codes=spec.get("codes"),
            format=spec.get("format", "text"),
            nulls=frozenset(spec.get("nulls", ())),
            split=spec.get("split"),
            values=spec.get("values"),
        )
        for name, spec in document["fields"].items()
    }
    when_absent = document.get("when_absent")
    for name in when_absent or {}:
        if name not in fields:
            raise MappingProblem(f"/when_absent/{name}", "names a field the mapping does not map")
    optional = {k: Locator.parse(document[k]) for k in ("watermark", "as_of") if k in document}
    return SourceMapping(
        name=document["name"],
        adapter=document["adapter"],
        key=Locator.parse(document["key"]),
        fields=fields,
        charset=document.get("charset", "utf-8"),
        connection=document.get("connection"),
        table=document.get("table"),
        file=document.get("file"),
        format=document.get("format"),
        url=document.get("url"),
        watermark=optional.get("watermark"),
        as_of=optional.get("as_of"),
        when_absent=when_absent,
        records=document.get("records", "one"),
        key_split=document.get("key_split"),
        document=json.loads(json.dumps(document)),
    )


def _decode(raw: object, charset: str, where: str) -> object:
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            return bytes(raw).decode(charset)
        except UnicodeDecodeError as exc:
            reason = f"an undecodable byte ({charset}) at offset {exc.start}"
            raise MappingProblem(where, reason) from None
    return raw


def _text(value: object, where: str) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _yyyymmdd(value: object, where: str) -> str:
    text = str(value)
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])).isoformat()
    except ValueError:
        raise MappingProblem(where, "not a YYYYMMDD date") from None


def _date(value: object, where: str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise MappingProblem(where, "not a date") from None


def _datetime(value: object, where: str) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    try:
        return datetime.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise MappingProblem(where, "not a date-time") from None


def _integer(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise MappingProblem(where, "not an integer")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MappingProblem(where, "not an integer") from None
    if number != number.to_integral_value():
        raise MappingProblem(where, "not an integer")
    return int(number)


def _decimal(value: object, where: str) -> float:
    try:
        return float(Decimal(str(value)))
    except InvalidOperation:
        raise MappingProblem(where, "not a number") from None


def _boolean01(value: object, where: str) -> bool:
    text = str(value).lower()
    if text in {"1", "true", "y", "是"}:
        return True
    if text in {"0", "false", "n", "否"}:
        return False
    raise MappingProblem(where, "not a 0/1 flag")


def _fen_to_yuan(value: object, where: str) -> float:
    return _integer(value, where) / 100


_FORMATS = {
    "text": _text,
    "yyyymmdd": _yyyymmdd,
    "date": _date,
    "datetime": _datetime,
    "integer": _integer,
    "decimal": _decimal,
    "boolean01": _boolean01,
    "fen_to_yuan": _fen_to_yuan,
}
