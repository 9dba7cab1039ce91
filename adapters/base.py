"""The adapter contract: one subject's fields, changes since a watermark, health, description.

A concrete adapter implements the private methods (``_fetch``, ``_changes``, ``_describe``,
``_health``, and optionally ``_cancel``) and returns *raw* source values keyed by catalogue
field name. The public methods of :class:`SourceAdapter` wrap them, so every adapter gets the
same guarantees, in this order:

1. only fields the mapping maps may be asked for (``UnmappedField``), and only those are read;
2. the call runs on the adapter's worker pool and is abandoned at the timeout
   (``SourceTimeout``); ``_cancel`` is asked to interrupt the driver; a driver error that
   arrives at or after the deadline (the driver's own timeout winning the race) is the same
   ``SourceTimeout``. An adapter whose driver itself ends every wait at the deadline (a local
   SQLite file: statements interrupted by a progress handler, pool and lock waits bounded)
   sets ``reads_inline`` and runs the call on the caller's thread instead, with the same
   answers: an answer at or after the deadline is ``SourceTimeout`` too;
3. any exception that is not already an :class:`AdapterError` becomes ``SourceUnavailable``
   naming only the exception's type (driver messages can hold SQL or values);
4. more than one row for one subject is ``AmbiguousSubject``: nothing is released — unless
   the mapping says ``records: many`` (a person may own several properties); then
   ``fetch_all`` returns every record, up to ``limits.max_records`` (more is
   ``SourceLimitExceeded``);
5. each raw value is converted by the mapping (``SourceDataError`` on undecodable bytes, unknown
   codes, bad formats), then checked against the field's JSON Schema from the catalogue;
6. a record larger than the size limit is ``SourceLimitExceeded``.

A record is returned whole or not at all; ``fetch_all`` returns all records or none.

No row for the subject is "no record" (``None``), except when the mapping has ``when_absent``
(a registry where absence means something: no death registration row ⇒ ``deceased: false``).
Then ``fetch`` returns ``SourceRecord(<when_absent restricted to the requested fields>,
as_of=None)``; those values come from the mapping, not the source, so they are not converted.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import date, datetime
from time import perf_counter
from typing import Any, ClassVar, Generic, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

from adapters.errors import (
    AdapterError,
    AmbiguousSubject,
    MappingError,
    SourceDataError,
    SourceLimitExceeded,
    SourceTimeout,
    SourceUnavailable,
    UnmappedField,
)
from adapters.mapping import MappingProblem, SourceMapping

__all__ = [
    "AS_OF",
    "KEY",
    "WATERMARK",
    "AdapterLimits",
    "Change",
    "ColumnDescription",
    "HealthReport",
    "PendingRecords",
    "SourceAdapter",
    "SourceDescription",
    "SourceRecord",
    "TableDescription",
]

log = logging.getLogger("tongban.adapters")
T = TypeVar("T")

KEY = "__key__"
WATERMARK = "__watermark__"
AS_OF = "__as_of__"
RawRow = Mapping[str, object]


@dataclass(frozen=True)
class AdapterLimits:
    """Limits every adapter is held to; the base class enforces them."""

    timeout_s: float = 2.0
    max_record_bytes: int = 64 * 1024
    max_concurrency: int = 4
    stream_batch_rows: int = 1000
    max_records: int = 50  # records of one subject a ``records: many`` mapping may return


@dataclass(frozen=True)
class SourceRecord:
    """One subject's mapped values, and the source's own as-of time when it has one."""

    values: Mapping[str, Any]
    as_of: str | None = None


@dataclass(frozen=True)
class Change:
    """A record changed since a watermark (bulk sync)."""

    subject: str
    values: Mapping[str, Any]
    watermark: str


@dataclass(frozen=True)
class ColumnDescription:
    name: str
    type: str
    nullable: bool = True


@dataclass(frozen=True)
class TableDescription:
    name: str
    columns: tuple[ColumnDescription, ...]

    def column_names(self) -> set[str]:
        return {c.name for c in self.columns}


@dataclass(frozen=True)
class SourceDescription:
    """What a department sees when writing a mapping: its tables (or file columns)."""

    adapter: str
    tables: tuple[TableDescription, ...]

    def table(self, name: str) -> TableDescription | None:
        return next((t for t in self.tables if t.name.lower() == name.lower()), None)


@dataclass(frozen=True)
class HealthReport:
    adapter: str
    ok: bool
    latency_ms: float
    detail: str = "ok"


@dataclass(frozen=True)
class _Started(Generic[T]):
    """A call on an adapter's pool, and when it was submitted."""

    future: Future[T]
    at: float


class PendingRecords:
    """A read :meth:`SourceAdapter.begin_fetch_all` started: :meth:`result` waits for it."""

    def __init__(self, finish: Callable[[], list[SourceRecord]]) -> None:
        self._finish = finish

    def result(self) -> list[SourceRecord]:
        return self._finish()


class SourceAdapter(ABC):
    """Base of every adapter. Subclasses set ``kind`` and implement the private methods."""

    kind: ClassVar[str]

    def __init__(
        self,
        name: str,
        mapping: SourceMapping,
        *,
        limits: AdapterLimits | None = None,
        field_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.name = name
        self.mapping = mapping
        self.limits = limits or AdapterLimits()
        self._checks: dict[str, _ValueCheck] = {
            f: _ValueCheck(Draft202012Validator(dict(schema)))
            for f, schema in (field_schemas or {}).items()
            if f in mapping.fields
        }
        self._pool = ThreadPoolExecutor(
            self.limits.max_concurrency, thread_name_prefix=f"adapter-{name}"
        )
        self._closed = False
        self.reads_inline = False
        """Whether reads run on the caller's thread: only for a driver that ends every wait
        (statement, connection pool, lock) at the deadline itself (a local SQLite file)."""

    # -- public contract ---------------------------------------------------------------------

    def fetch(self, subject: str, fields: Sequence[str]) -> SourceRecord | None:
        """The requested fields of one subject, or None when the source has no record."""
        wanted = self._requested(fields)
        return self._one(self._guarded(lambda: self._fetch(subject, wanted)), wanted)

    def fetch_all(self, subject: str, fields: Sequence[str]) -> list[SourceRecord]:
        """Every record of one subject (``records: many`` mappings; at most one otherwise),
        in source order; more than ``limits.max_records`` is ``SourceLimitExceeded``."""
        return self.begin_fetch_all(subject, fields).result()

    def begin_fetch_all(self, subject: str, fields: Sequence[str]) -> PendingRecords:
        """:meth:`fetch_all` started on the adapter's pool; ``result()`` waits for it (the
        timeout counts from this call) and returns or raises what ``fetch_all`` would. A caller
        reading several sources starts each, then waits for each: one trip to a thread per
        source, the reads overlapping. An unmapped field is refused here, before anything is
        read."""
        wanted = self._requested(fields)
        started = self._start(lambda: self._fetch(subject, wanted))
        return PendingRecords(lambda: self._all(self._settle(started), wanted))

    def _one(self, rows: list[RawRow], wanted: Sequence[str]) -> SourceRecord | None:
        if not rows:
            absent = self.mapping.absent_values(wanted)
            return None if absent is None else SourceRecord(absent, None)
        if len(rows) > 1:
            raise AmbiguousSubject(self.name, "more than one record for the subject")
        return self._record(rows[0], wanted)

    def _all(self, rows: list[RawRow], wanted: Sequence[str]) -> list[SourceRecord]:
        if not self.mapping.many:
            found = self._one(rows, wanted)
            return [] if found is None else [found]
        if len(rows) > self.limits.max_records:
            limit = self.limits.max_records
            raise SourceLimitExceeded(self.name, f"more than {limit} records for the subject")
        return [self._record(row, wanted) for row in rows]

    @property
    def row_cap(self) -> int:
        """Rows ``_fetch`` needs to read at most: one more than may be returned, so that an
        ambiguity or an overflow is seen without reading everything."""
        return self.limits.max_records + 1 if self.mapping.many else 2

    def changes(self, since: str | None, fields: Sequence[str] | None = None) -> Iterator[Change]:
        """Records changed after watermark ``since`` (all when None), oldest first, streamed."""
        wanted = self._requested(fields if fields is not None else list(self.mapping.fields))
        rows = self._wrap_iterator(self._changes(since, wanted))
        for row in rows:
            yield Change(
                subject=str(row[KEY]),
                values=self._convert(row, wanted),
                watermark=_iso(row[WATERMARK]),
            )

    def describe(self) -> SourceDescription:
        """The source's tables and columns."""
        return self._guarded(self._describe)

    def health(self) -> HealthReport:
        """Reachability within the timeout; never raises."""
        started = perf_counter()
        try:
            self._guarded(self._health)
        except AdapterError as exc:
            return HealthReport(self.name, False, _ms(started), exc.code)
        return HealthReport(self.name, True, _ms(started))

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._close()

    @classmethod
    @abstractmethod
    def from_config(
        cls,
        name: str,
        mapping: SourceMapping,
        config: Mapping[str, Any],
        *,
        limits: AdapterLimits | None = None,
        field_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> SourceAdapter:
        """Build from the adapter configuration (where connection details and secrets live)."""

    def check_mapping(self) -> None:
        """Refuse, at load time, a mapping that names what the source does not have."""
        described = self.describe()
        wanted = self.mapping.table or self.mapping.file or ""
        found = described.table(wanted) if wanted else None
        if found is None:
            raise MappingError(self.name, f"the source has nothing named {wanted!r}")
        have = {c.lower() for c in found.column_names()}
        for locator in self.mapping.locators():
            if locator.column is not None and locator.column.lower() not in have:
                raise MappingError(self.name, f"{found.name!r} has no column {locator.column!r}")

    # -- for implementations -----------------------------------------------------------------

    @abstractmethod
    def _fetch(self, subject: str, fields: Sequence[str]) -> list[RawRow]:
        """Raw rows for the subject, at most :attr:`row_cap` of them, keyed by field name
        (+ ``AS_OF``)."""

    @abstractmethod
    def _changes(self, since: str | None, fields: Sequence[str]) -> Iterator[RawRow]:
        """Raw rows keyed by field name plus ``KEY`` and ``WATERMARK``, in watermark order."""

    @abstractmethod
    def _describe(self) -> SourceDescription: ...

    @abstractmethod
    def _health(self) -> None:
        """Raise if the source cannot answer a trivial query."""

    def _cancel(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Interrupt in-flight calls after a timeout, where the driver allows it."""

    def _close(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Release connections and handles."""

    # -- mechanics ---------------------------------------------------------------------------

    def _requested(self, fields: Sequence[str]) -> tuple[str, ...]:
        unknown = sorted(set(fields) - set(self.mapping.fields))
        if unknown:
            raise UnmappedField(self.name, f"the mapping has no field {unknown[0]!r}")
        return tuple(dict.fromkeys(fields))

    def _guarded(self, call: Callable[[], T]) -> T:
        return self._settle(self._start(call))

    def _start(self, call: Callable[[], T]) -> _Started[T]:
        """*call* submitted to the adapter's pool (guarantee 2 of the module docstring), or
        made at once on the caller's thread by an adapter whose driver itself ends every wait
        at the deadline (:attr:`reads_inline`); past the deadline, its answer is a timeout
        as the pool's would be."""
        started = perf_counter()
        if self._closed:
            raise SourceUnavailable(self.name, "the adapter is closed")
        if not self.reads_inline:
            try:
                return _Started(self._pool.submit(call), started)
            except RuntimeError:
                raise SourceUnavailable(self.name, "the adapter is closed") from None
        done: Future[T] = Future()
        try:
            done.set_result(call())
        except Exception as exc:  # noqa: BLE001 - typed by _settle, as the pool's would be
            done.set_exception(exc)
        if perf_counter() - started >= self.limits.timeout_s and done.exception() is None:
            done = Future()
            done.set_exception(self._timeout())
        return _Started(done, started)

    def _settle(self, started: _Started[T]) -> T:
        """The submitted call's result within the timeout from its start, its errors typed."""
        remaining = max(0.0, self.limits.timeout_s - (perf_counter() - started.at))
        try:
            return started.future.result(timeout=remaining)
        except FutureTimeout:
            started.future.cancel()
            self._cancel()
            raise self._timeout() from None
        except AdapterError:
            raise
        except MappingProblem as exc:
            raise SourceDataError(self.name, exc.reason) from None
        except Exception as exc:  # noqa: BLE001 - every driver error becomes a typed one
            if perf_counter() - started.at >= self.limits.timeout_s:
                raise self._timeout() from None  # the driver's own deadline won the race
            raise self._unavailable(exc) from None

    def _record(self, row: RawRow, fields: Sequence[str]) -> SourceRecord:
        as_of = row.get(AS_OF)
        return SourceRecord(self._convert(row, fields), _iso(as_of) if as_of is not None else None)

    def _timeout(self) -> SourceTimeout:
        return SourceTimeout(self.name, f"no answer within {self.limits.timeout_s:g} s")

    def _wrap_iterator(self, rows: Iterator[RawRow]) -> Iterator[RawRow]:
        try:
            yield from rows
        except AdapterError:
            raise
        except MappingProblem as exc:
            raise SourceDataError(self.name, exc.reason) from None
        except Exception as exc:  # noqa: BLE001 - every driver error becomes a typed one
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> SourceUnavailable:
        log.warning("adapter %s: %s", self.name, type(exc).__name__)
        return SourceUnavailable(self.name, f"the source failed ({type(exc).__name__})")

    def _convert(self, row: RawRow, fields: Sequence[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in fields:
            try:
                value = self.mapping.fields[name].convert(row.get(name), self.mapping.charset)
            except MappingProblem as exc:
                raise SourceDataError(self.name, f"field {name!r}: {exc.reason}") from None
            check = self._checks.get(name)
            if value is not None and check is not None and not check(value):
                raise SourceDataError(self.name, f"field {name!r} breaks its schema")
            values[name] = value
        self._check_size(values)
        return values

    def _check_size(self, values: dict[str, Any]) -> None:
        """Refuse a record over the size limit. Flat records of short scalars are bounded
        cheaply (4 bytes a character at most in UTF-8); only others are encoded to measure."""
        limit = self.limits.max_record_bytes
        bound = 0
        for key, value in values.items():
            if isinstance(value, str | int | float | bool) or value is None:
                bound += 4 * (len(key) + len(str(value))) + 8
            else:
                bound = limit + 1
                break
        if bound <= limit:
            return
        size = len(json.dumps(values, ensure_ascii=False).encode())
        if size > limit:
            raise SourceLimitExceeded(self.name, f"record of {size} bytes is over {limit}")


class _ValueCheck:
    """A field's JSON Schema check, remembering verdicts for repeated scalar values (codes,
    dates and small numbers repeat across records; bounded, so memory stays flat)."""

    def __init__(self, validator: Validator, remember: int = 4096) -> None:
        self._validator = validator
        self._remember = remember
        self._verdicts: dict[tuple[type, object], bool] = {}

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, str | int | float | bool):
            return bool(self._validator.is_valid(value))
        key = (type(value), value)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = bool(self._validator.is_valid(value))
            if len(self._verdicts) >= self._remember:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict


def _iso(value: object) -> str:
    """ISO 8601 text of a timestamp, whether the driver gave a datetime or text (SQLite)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    try:
        return datetime.fromisoformat(str(value)).isoformat()
    except ValueError:
        return str(value)


def _ms(started: float) -> float:
    return round((perf_counter() - started) * 1000, 3)
