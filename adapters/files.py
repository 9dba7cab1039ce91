"""CSV and fixed-width exports (导出文件) as sources, in GBK, GB18030 or UTF-8.

* CSV (kind ``csv``, :class:`CsvAdapter`): the first record is the header and ``column``
  locators name its columns (case-insensitively, as SQL columns). Quoted cells may hold
  delimiters, quotes and line breaks. Cells are cut at the byte level — the delimiter, the quote
  and line breaks are ASCII, and no byte of a GBK, GB18030 or UTF-8 multi-byte character is — so
  each cell reaches the mapping as raw bytes and is decoded strictly there: an undecodable byte
  spoils its own field only. A UTF-8 byte-order mark before the header is ignored. A header that
  names a mapped column twice is refused; a row with too few cells is a data error. A record that
  is malformed, or longer than the line limit, is passed over to where the next record starts
  (counting quotes) and refused when looked up.
* Fixed width (kind ``fixed_width``, :class:`FixedWidthAdapter`): ``start``/``length`` are byte
  offsets in the encoded line (a GBK Chinese character is two bytes). A line shorter than a span
  (trailing padding trimmed by the exporter) reads as padding; a span beyond the longest line of
  the file is refused when the mapping is loaded; a span that cuts a character in half reads as
  an undecodable byte. ``describe`` names the mapping's spans (``bytes 0+18``) and ``line``.

What both share — the root, the index, as-of times, changes — is :mod:`adapters.filesource`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from adapters.base import ColumnDescription
from adapters.errors import MappingError
from adapters.fileindex import (
    KeyOf,
    LineReader,
    Oversized,
    Record,
    RecordStream,
    Snapshot,
    Unreadable,
)
from adapters.filesource import Cell, FileAdapter, FileSource, plain_text
from adapters.mapping import Locator, MappingProblem

__all__ = ["CsvAdapter", "FileSource", "FixedWidthAdapter"]


class CsvAdapter(FileAdapter):
    """A CSV export with a header row; see the module docstring."""

    kind = "csv"

    def stream(self, lines: LineReader) -> RecordStream:
        return _CsvRecords(lines, self.source.delimiter)

    def line_limit(self) -> int:
        """No field can then be over the csv module's own limit: an overlong record is always
        reported as over the line limit."""
        return min(super().line_limit(), csv.field_size_limit())

    def read_header(self, stream: RecordStream) -> tuple[str, ...]:
        try:
            cells = stream.next() or ()
        except (Oversized, Unreadable):
            raise MappingProblem("header", "the header row cannot be read") from None
        charset = self.mapping.charset
        names = [plain_text(cell.encode("latin-1"), charset, "header") or "" for cell in cells]
        if names:
            names[0] = names[0].removeprefix("\ufeff")
        return tuple(names)

    def key_reader(self, header: tuple[str, ...]) -> KeyOf:
        column = self.mapping.key.column or ""
        if column.lower() not in {name.lower() for name in header}:
            raise MappingError(self.name, f"{self.mapping.file!r} has no column {column!r}")
        return super().key_reader(header)

    def check_mapping(self) -> None:
        super().check_mapping()
        header = [name.lower() for name in self._guarded(self._snapshot).header]
        for locator in self.mapping.locators():
            if locator.column is not None and header.count(locator.column.lower()) > 1:
                raise MappingError(
                    self.name, f"{self.mapping.file!r} has column {locator.column!r} twice"
                )

    def _check_locators(self) -> None:
        if any(locator.column is None for locator in self.mapping.locators()):
            raise MappingError(self.name, "a CSV mapping locates every value by header column")

    def _cells(self, header: tuple[str, ...]) -> Cell:
        positions: dict[str, int] = {}
        for index, name in enumerate(header):
            positions.setdefault(name.lower(), index)
        file = self.mapping.file

        def cell(record: Record, locator: Locator) -> bytes:
            column = locator.column or ""
            index = positions.get(column.lower())
            if index is None:
                raise MappingError(self.name, f"{file!r} has no column {column!r}")
            if index >= len(record):
                raise MappingProblem(column, f"column {column!r}: the row has too few cells")
            return record[index].encode("latin-1")

        return cell

    def _columns(self, snapshot: Snapshot) -> tuple[ColumnDescription, ...]:
        return tuple(ColumnDescription(name, "text") for name in snapshot.header)


class FixedWidthAdapter(FileAdapter):
    """A fixed-width export, values at byte spans of each line; see the module docstring."""

    kind = "fixed_width"

    def stream(self, lines: LineReader) -> RecordStream:
        return _LineRecords(lines)

    def check_mapping(self) -> None:
        super().check_mapping()
        longest = self._guarded(self._snapshot).longest
        for locator in self.mapping.locators():
            end = (locator.start or 0) + (locator.length or 0)
            if longest and end > longest:
                raise MappingError(
                    self.name,
                    f"{locator.label!r} lies beyond the longest line of {self.mapping.file!r}"
                    f" ({longest} bytes)",
                )

    def _check_locators(self) -> None:
        if any(locator.start is None for locator in self.mapping.locators()):
            raise MappingError(
                self.name, "a fixed-width mapping locates every value by byte span (start, length)"
            )

    def _cells(self, header: tuple[str, ...]) -> Cell:
        def cell(record: Record, locator: Locator) -> bytes:
            start = locator.start or 0
            return record[0][start : start + (locator.length or 0)].encode("latin-1")

        return cell

    def _columns(self, snapshot: Snapshot) -> tuple[ColumnDescription, ...]:
        spans = {loc.label: loc.length for loc in self.mapping.locators()}
        columns = [ColumnDescription(label, f"bytes({length})") for label, length in spans.items()]
        return (*columns, ColumnDescription("line", f"bytes({snapshot.longest})"))


class _CsvRecords(RecordStream):
    """CSV records cut at the byte level (cells are latin-1 images of the raw bytes).

    The csv module reads lines as it needs them. When a record goes over the limit, or the csv
    module refuses it, the rest of the record is passed over by counting quotes (a record ends
    at a line break outside quotes, where the count is even), so the next record starts where
    it should.
    """

    def __init__(self, lines: LineReader, delimiter: str) -> None:
        super().__init__(lines)
        self._delimiter = delimiter
        self._quotes = 0
        self._reader = self._open()

    def next(self) -> Record | None:
        self._quotes = 0
        try:
            while (row := next(self._reader, None)) is not None:
                if row:
                    return tuple(row)
                self.lines.begin()
                self._quotes = 0
        except Oversized as exc:
            self._resynchronise(self._quotes + exc.quotes)
            raise
        except csv.Error:
            prefix = self.lines.first
            self._resynchronise(self._quotes)
            raise Unreadable(prefix) from None
        return None

    def salvage(self, prefix: bytes) -> Record:
        text = prefix.decode("latin-1")
        try:
            return tuple(next(csv.reader([text], delimiter=self._delimiter), []))
        except csv.Error:
            return tuple(text.split(self._delimiter))  # enough for a key before the fault

    def _resynchronise(self, quotes: int) -> None:
        while quotes % 2:
            more = self.lines.skip_line()
            if more is None:
                break
            quotes += more
        self._reader = self._open()

    def _open(self) -> Iterator[list[str]]:
        return csv.reader(self._texts(), delimiter=self._delimiter)

    def _texts(self) -> Iterator[str]:
        while line := self.lines.line():
            self._quotes += line.count(b'"')
            yield line.decode("latin-1")


class _LineRecords(RecordStream):
    """Each non-blank line is a record of one cell, without its line terminator."""

    def next(self) -> Record | None:
        while line := self.lines.line():
            content = line.rstrip(b"\r\n")
            if content.strip():
                self.lines.longest = max(self.lines.longest, len(content))
                return (content.decode("latin-1"),)
            self.lines.begin()
        return None

    def salvage(self, prefix: bytes) -> Record:
        return (prefix.decode("latin-1"),)
