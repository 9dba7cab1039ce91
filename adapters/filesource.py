"""What CSV and fixed-width exports share as sources: a root to stay in, an index, changes.

Configuration ``{"root": "<dir>", "max_line_bytes": 131072, "delimiter": ","}``: the mapping's
``file`` is relative to ``root`` and may not leave it (``..``, absolute paths and symlinks that
point out are refused when the adapter is built). A file that is missing when the mapping is
loaded is a wrong mapping (``MappingError``); missing later, the source is down.

Lookups go through :mod:`adapters.fileindex`: the file is read once to index it, a lookup reads
only its subject's records, and a replaced file is re-indexed on the next call. Records whose key
cannot be read (undecodable, empty) are left out of the index and counted in a log warning.

As-of time: the mapping's ``as_of`` value when it maps one, otherwise the file's modification
time (an export is a snapshot taken when it was written).

Changes: with a ``watermark`` mapped (a CSV column, a fixed-width span), the records whose
watermark is after ``since``, in watermark order (ISO 8601 date-times compared as instants, other
values as text). Files are not sorted, so the file is read twice: once to collect the changed
records' offsets, once to read them in order; memory holds offsets only, and a sync that stops
can resume from the last watermark it saw. Without a watermark, snapshot semantics: every
record's watermark is the file's modification time, so ``changes`` since an earlier time (or
None) returns every record in file order, and since the current file's time returns none.

A blocked read (a hung network mount, a FIFO nobody writes) cannot be interrupted from Python:
the base class abandons the call at the timeout (``SourceTimeout``) and the worker stays blocked
until the operating system returns.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Self

from adapters.base import (
    AS_OF,
    KEY,
    WATERMARK,
    AdapterLimits,
    ColumnDescription,
    RawRow,
    SourceAdapter,
    SourceDescription,
    TableDescription,
)
from adapters.errors import MappingError, SourceDataError, SourceLimitExceeded
from adapters.fileindex import (
    FileIndex,
    KeyOf,
    LineReader,
    Oversized,
    Record,
    RecordStream,
    Snapshot,
    Unreadable,
    open_binary,
)
from adapters.mapping import FieldMapping, Locator, MappingProblem, SourceMapping

__all__ = ["Cell", "FileAdapter", "FileSource", "plain_text"]

Cell = Callable[[Record, Locator], bytes]
_PADDING = " \u3000\x00\t\r\n"  # what adapters.mapping strips from every value


@dataclass(frozen=True)
class FileSource:
    """Where a department's exports are and how to cut them (adapter configuration)."""

    root: Path
    max_line_bytes: int = 128 * 1024
    delimiter: str = ","

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> FileSource:
        root = config.get("root")
        if not root:
            raise MappingError(name, "a file adapter's configuration names its root directory")
        delimiter = str(config.get("delimiter", ","))
        if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n':
            raise MappingError(name, "the CSV delimiter is one ASCII character")
        limit = int(config.get("max_line_bytes", cls.max_line_bytes))
        return cls(Path(str(root)), limit, delimiter)


class FileAdapter(SourceAdapter):
    """What CSV and fixed width share: the root, the index, lookups, changes, health.

    A format subclass supplies how records are cut (:meth:`stream`, :meth:`read_header`),
    which locators it accepts, and how a locator's bytes are taken out of a record.
    """

    def __init__(
        self,
        name: str,
        mapping: SourceMapping,
        source: FileSource,
        *,
        limits: AdapterLimits | None = None,
        field_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(name, mapping, limits=limits, field_schemas=field_schemas)
        if mapping.format is not None and mapping.format != self.kind:
            raise MappingError(name, f"a {self.kind} adapter cannot read format {mapping.format!r}")
        self.source = source
        self._path = _inside(source.root, mapping.file, name)
        self._check_locators()
        self._index = FileIndex(self._path, self, self.line_limit())

    @classmethod
    def from_config(
        cls,
        name: str,
        mapping: SourceMapping,
        config: Mapping[str, Any],
        *,
        limits: AdapterLimits | None = None,
        field_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Self:
        source = FileSource.from_config(name, config)
        return cls(name, mapping, source, limits=limits, field_schemas=field_schemas)

    def check_mapping(self) -> None:
        """Refuse a missing file, a missing column, and (fixed width) a span past the lines."""
        if not self._path.exists():
            raise MappingError(self.name, f"the source has no file {self.mapping.file!r}")
        super().check_mapping()

    # -- the format, for the index (adapters.fileindex.Layout) -------------------------------

    @abstractmethod
    def stream(self, lines: LineReader) -> RecordStream: ...

    def read_header(self, stream: RecordStream) -> tuple[str, ...]:
        return ()

    def line_limit(self) -> int:
        """Bytes a record may have; a longer one is never held in memory."""
        return self.source.max_line_bytes

    def key_reader(self, header: tuple[str, ...]) -> KeyOf:
        cell = self._cells(header)
        charset = self.mapping.charset
        key = self.mapping.key

        split = self.mapping.key_split

        def key_of(record: Record) -> tuple[str, ...]:
            try:
                text = cell(record, key).decode(charset).strip(_PADDING)
            except (UnicodeDecodeError, MappingProblem):
                return ()
            parts = text.split(split) if split else [text]
            return tuple(dict.fromkeys(p.strip(_PADDING) for p in parts if p.strip(_PADDING)))

        return key_of

    # -- per format --------------------------------------------------------------------------

    @abstractmethod
    def _check_locators(self) -> None:
        """Refuse locators the format cannot have (a span in a CSV mapping)."""

    @abstractmethod
    def _cells(self, header: tuple[str, ...]) -> Cell:
        """How to take a locator's raw bytes out of a record of a file with this header."""

    # -- implementation ----------------------------------------------------------------------

    def _fetch(self, subject: str, fields: Sequence[str]) -> list[RawRow]:
        with self._index.opened() as (handle, snapshot):
            cell = self._cells(snapshot.header)
            rows: list[RawRow] = []
            for offset in snapshot.find(subject)[: self.row_cap]:
                record = self._read(handle, snapshot, offset)
                row = self._values(record, cell, fields)
                row[AS_OF] = self._as_of(record, cell, snapshot)
                rows.append(row)
            return rows

    def _changes(self, since: str | None, fields: Sequence[str]) -> Iterator[RawRow]:
        with self._index.opened() as (handle, snapshot):
            cell = self._cells(snapshot.header)
            key_of = self.key_reader(snapshot.header)
            if self.mapping.watermark is None:
                changed = self._snapshot_changes(handle, snapshot, since)
            else:
                changed = self._marked_changes(handle, snapshot, cell, key_of, since)
            for record, mark in changed:
                for key in key_of(record):
                    yield {KEY: key, WATERMARK: mark, **self._values(record, cell, fields)}

    def _snapshot_changes(
        self, handle: BinaryIO, snapshot: Snapshot, since: str | None
    ) -> Iterator[tuple[Record, str]]:
        mark = _mtime(snapshot)
        if since is not None and _order(mark) <= _order(since):
            return
        for _, record in self._scan(handle, snapshot):
            yield record, mark

    def _marked_changes(
        self, handle: BinaryIO, snapshot: Snapshot, cell: Cell, key_of: KeyOf, since: str | None
    ) -> Iterator[tuple[Record, str]]:
        assert self.mapping.watermark is not None  # noqa: S101 - checked by the caller
        watermark = self.mapping.watermark
        after = _order(since) if since is not None else None
        pending: list[tuple[tuple[int, str], int]] = []
        for offset, record in self._scan(handle, snapshot):
            mark = plain_text(cell(record, watermark), self.mapping.charset, "watermark")
            if mark is not None and key_of(record):
                order = _order(mark)
                if after is None or order > after:
                    pending.append((order, offset))
        pending.sort()
        for _, offset in pending:
            record = self._read(handle, snapshot, offset)
            mark = plain_text(cell(record, watermark), self.mapping.charset, "watermark")
            yield record, mark or ""

    def _describe(self) -> SourceDescription:
        with self._index.opened() as (_, snapshot):
            table = TableDescription(self.mapping.file or "", self._columns(snapshot))
        return SourceDescription(self.name, (table,))

    @abstractmethod
    def _columns(self, snapshot: Snapshot) -> tuple[ColumnDescription, ...]: ...

    def _health(self) -> None:
        with open_binary(self._path) as handle:
            handle.read(1)

    def _close(self) -> None:
        self._index.forget()

    # -- helpers -----------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        with self._index.opened() as (_, snapshot):
            return snapshot

    def _values(self, record: Record, cell: Cell, fields: Sequence[str]) -> dict[str, object]:
        return {name: cell(record, self.mapping.fields[name].locator) for name in fields}

    def _as_of(self, record: Record, cell: Cell, snapshot: Snapshot) -> str | None:
        if self.mapping.as_of is None:
            return _mtime(snapshot)
        return plain_text(cell(record, self.mapping.as_of), self.mapping.charset, "as_of")

    def _read(self, handle: BinaryIO, snapshot: Snapshot, offset: int) -> Record:
        try:
            return self._index.read(handle, snapshot, offset)
        except Oversized:
            raise self._oversized() from None
        except Unreadable:
            raise SourceDataError(self.name, "a malformed record") from None

    def _scan(self, handle: BinaryIO, snapshot: Snapshot) -> Iterator[tuple[int, Record]]:
        try:
            yield from self._index.scan(handle, snapshot)
        except Oversized:
            raise self._oversized() from None
        except Unreadable:
            raise SourceDataError(self.name, "a malformed record") from None

    def _oversized(self) -> SourceLimitExceeded:
        limit = self._index.limit
        return SourceLimitExceeded(self.name, f"a record over the line limit of {limit} bytes")


def _inside(root: Path, file: str | None, name: str) -> Path:
    if not file:
        raise MappingError(name, "a file mapping names its file")
    base = root.resolve()
    path = (base / file).resolve()
    if path == base or not path.is_relative_to(base):
        raise MappingError(name, f"the file {file!r} is outside the adapter's root")
    return path


def plain_text(raw: bytes, charset: str, where: str) -> str | None:
    """Strictly decoded, padding-stripped text of a key, a watermark or an as-of value."""
    try:
        value = FieldMapping(where, Locator()).convert(raw, charset)
    except MappingProblem as exc:
        raise MappingProblem(where, f"{where}: {exc.reason}") from None
    return None if value is None else str(value)


def _mtime(snapshot: Snapshot) -> str:
    return datetime.fromtimestamp(snapshot.mtime_ns / 1e9, UTC).isoformat()


def _order(mark: str) -> tuple[int, str]:
    """Sort key of a watermark: ISO 8601 date-times as UTC instants, anything else as text."""
    try:
        moment = datetime.fromisoformat(mark)
    except ValueError:
        return (1, mark)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (0, moment.isoformat(timespec="microseconds"))
