"""An in-memory index of a line-oriented export: subject → byte offsets of its records.

The index is built on first use by reading the file once, as a stream: memory holds the offsets,
never the rows. A lookup seeks to a subject's offsets and reads only those records. Every use
``fstat``s the opened file and rebuilds the index when ``(st_mtime_ns, st_size, st_ino)``
changed, so a replaced export (``mv``, ``os.replace``) or one rewritten in place is picked up;
the offsets used always belong to the file that is open. A rebuild holds a lock; a use of an
unchanged file takes none.

A record is a tuple of cells (a CSV row's cells, or a fixed-width line as one cell) held as
latin-1 text: one character per byte of the file, so a cell's raw bytes are
``cell.encode("latin-1")`` and nothing is decoded before the mapping decodes it strictly;
how records are cut from lines and where their key is comes from the :class:`Layout` the
adapter supplies. A record longer than the line limit is never held in memory: its first line's
prefix is kept for its key, and reading it is refused (:class:`Oversized`).
"""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = [
    "FileIndex",
    "KeyOf",
    "Layout",
    "LineReader",
    "Oversized",
    "Record",
    "RecordStream",
    "Snapshot",
    "Unreadable",
    "open_binary",
]

log = logging.getLogger("tongban.adapters")

Record = tuple[str, ...]
KeyOf = Callable[[Record], tuple[str, ...]]
"""The subjects a record is found under: usually one; none when its key cannot be read."""
Signature = tuple[int, int, int]
_SKIP_CHUNK = 64 * 1024


class Unreadable(Exception):
    """A record that cannot be cut from the file (a malformed CSV record); ``prefix`` is the
    start of its first line."""

    def __init__(self, prefix: bytes) -> None:
        super().__init__("a malformed record")
        self.prefix = prefix


class Oversized(Exception):
    """A record over the line limit; ``prefix`` is the start of its first line, ``quotes`` the
    number of ``"`` bytes in the line that overflowed (a CSV stream needs them to find where the
    record ends)."""

    def __init__(self, prefix: bytes, quotes: int = 0) -> None:
        super().__init__("a record over the line limit")
        self.prefix = prefix
        self.quotes = quotes


def open_binary(path: Path) -> BinaryIO:
    """Every read of an export goes through here (tests count the bytes read)."""
    return open(path, "rb")


class LineReader:
    """Physical lines of a binary file, at most ``limit`` bytes per record, with their offsets."""

    def __init__(self, handle: BinaryIO, limit: int) -> None:
        self._handle = handle
        self.limit = limit
        self.offset = handle.tell()
        self.longest = 0  # the longest line's content, kept by streams that need it
        self._budget = limit
        self._first: bytes | None = None

    def begin(self) -> int:
        """Start a record; its offset."""
        self._budget = self.limit
        self._first = None
        return self.offset

    @property
    def first(self) -> bytes:
        """The start of the current record's first line."""
        return (self._first or b"")[: self.limit]

    def line(self) -> bytes:
        """The next line with its terminator; ``b""`` at the end of the file."""
        line = self._handle.readline(self._budget + 1)
        self.offset += len(line)
        if self._first is None:
            self._first = line
        if len(line) > self._budget:
            quotes = line.count(b'"') + (self.skip_line() or 0 if not line.endswith(b"\n") else 0)
            raise Oversized(self.first, quotes)
        self._budget -= len(line)
        return line

    def skip_line(self) -> int | None:
        """Pass over the rest of a physical line without holding it: the number of ``"`` bytes
        in it, None at the end of the file."""
        chunk = self._handle.readline(_SKIP_CHUNK)
        if not chunk:
            return None
        quotes = 0
        while chunk:
            self.offset += len(chunk)
            quotes += chunk.count(b'"')
            if chunk.endswith(b"\n"):
                break
            chunk = self._handle.readline(_SKIP_CHUNK)
        return quotes


class RecordStream(ABC):
    """Consecutive records read from a :class:`LineReader`."""

    def __init__(self, lines: LineReader) -> None:
        self.lines = lines

    @abstractmethod
    def next(self) -> Record | None:
        """The next record, None at the end; :class:`Oversized` for a record over the limit,
        :class:`Unreadable` for one that cannot be cut."""

    @abstractmethod
    def salvage(self, prefix: bytes) -> Record:
        """What can be read of an oversized or malformed record from its prefix (its key)."""


class Layout(Protocol):
    """What the index needs to know of a file format; supplied by the adapter."""

    def stream(self, lines: LineReader) -> RecordStream: ...

    def read_header(self, stream: RecordStream) -> tuple[str, ...]: ...

    def key_reader(self, header: tuple[str, ...]) -> KeyOf: ...


@dataclass(frozen=True)
class Snapshot:
    """The index of one version of the file."""

    signature: Signature
    header: tuple[str, ...]
    data_start: int
    offsets: dict[str, int | list[int]]
    oversized: frozenset[int]
    longest: int
    unkeyed: int

    @property
    def mtime_ns(self) -> int:
        return self.signature[0]

    def find(self, subject: str) -> tuple[int, ...]:
        found = self.offsets.get(subject)
        if found is None:
            return ()
        return (found,) if isinstance(found, int) else tuple(found)


class FileIndex:
    """The index of one export file, rebuilt whenever the file changes."""

    def __init__(self, path: Path, layout: Layout, limit: int) -> None:
        self.path = path
        self.layout = layout
        self.limit = limit
        self._lock = threading.Lock()
        self._current: Snapshot | None = None

    @contextmanager
    def opened(self) -> Iterator[tuple[BinaryIO, Snapshot]]:
        """The open file and the index that matches it."""
        with open_binary(self.path) as handle:
            yield handle, self._snapshot(handle)

    def read(self, handle: BinaryIO, snapshot: Snapshot, offset: int) -> Record:
        """The record at ``offset``; :class:`Oversized` when it is over the limit."""
        if offset in snapshot.oversized:
            raise Oversized(b"")
        handle.seek(offset)
        record = self.layout.stream(LineReader(handle, self.limit)).next()
        if record is None:  # the file changed under us in place; the next use rebuilds
            raise OSError("the file changed while it was read")
        return record

    def scan(self, handle: BinaryIO, snapshot: Snapshot) -> Iterator[tuple[int, Record]]:
        """Every record after the header with its offset, in file order."""
        handle.seek(snapshot.data_start)
        lines = LineReader(handle, self.limit)
        stream = self.layout.stream(lines)
        while True:
            offset = lines.begin()
            record = stream.next()
            if record is None:
                return
            yield offset, record

    def forget(self) -> None:
        self._current = None

    def _snapshot(self, handle: BinaryIO) -> Snapshot:
        signature = _signature(os.fstat(handle.fileno()))
        current = self._current
        if current is not None and current.signature == signature:
            return current
        with self._lock:
            current = self._current
            if current is None or current.signature != signature:
                current = self._build(handle, signature)
                self._current = current
        return current

    def _build(self, handle: BinaryIO, signature: Signature) -> Snapshot:
        handle.seek(0)
        lines = LineReader(handle, self.limit)
        stream = self.layout.stream(lines)
        header = self.layout.read_header(stream)
        data_start = lines.offset
        offsets, oversized, unkeyed = _index(lines, stream, self.layout.key_reader(header))
        if unkeyed or oversized:
            log.warning(
                "index of %s: %d records without a readable key, %d over %d bytes",  # no values
                self.path.name,
                unkeyed,
                len(oversized),
                self.limit,
            )
        return Snapshot(
            signature, header, data_start, offsets, frozenset(oversized), lines.longest, unkeyed
        )


def _index(
    lines: LineReader, stream: RecordStream, key_of: KeyOf
) -> tuple[dict[str, int | list[int]], set[int], int]:
    """Offsets by key, offsets of oversized records, and the count of records without a key."""
    offsets: dict[str, int | list[int]] = {}
    oversized: set[int] = set()
    unkeyed = 0
    while True:
        offset = lines.begin()
        try:
            record = stream.next()
        except Oversized as exc:
            oversized.add(offset)
            record = stream.salvage(exc.prefix)
        except Unreadable as exc:
            record = stream.salvage(exc.prefix)
        if record is None:
            return offsets, oversized, unkeyed
        keys = key_of(record)
        if not keys:
            unkeyed += 1
        for key in keys:
            _add(offsets, key, offset)


def _add(offsets: dict[str, int | list[int]], key: str, offset: int) -> None:
    found = offsets.get(key)
    if found is None:
        offsets[key] = offset
    elif isinstance(found, int):
        offsets[key] = [found, offset]
    else:
        found.append(offset)


def _signature(stat: os.stat_result) -> Signature:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
