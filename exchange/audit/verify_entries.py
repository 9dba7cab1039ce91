"""Checks 1–5 of ``tongban audit verify`` (:mod:`exchange.audit.verify`): the stored entries read
in index order, each one's leaf hash and search columns, and the tree recomputed from the leaf
hashes against every stored node, with the roots at the sizes asked about.

The entries are streamed in pages of :data:`PAGE` as the driver's rows (one ``SELECT`` a page,
no ORM object and no type processing per entry); the nodes a page completes are read per level,
one range each. Each entry
costs a SHA-256 of its stored bytes, one JSON parse (the columns are compared with the parsed
entry's members as one tuple, named one by one only when they differ), about one node hash and a
dictionary look-up per node, and its push into the subject map's replay
(:class:`~exchange.audit.vmap_check.MapReplay`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from exchange.audit import driver, merkle
from exchange.audit.models import AuditNode
from exchange.audit.verify_report import VerifyReport
from exchange.audit.vmap_check import MapReplay

__all__ = [
    "PAGE",
    "RECORDED_EARLY",
    "RECORDED_LATE",
    "SEARCH_COLUMNS",
    "Tree",
    "node_ranges",
    "read_entries",
]

PAGE = 4096
SEARCH_COLUMNS = (
    ("request_id", "request_id"),
    ("kind", "kind"),
    ("system_id", "system"),
    ("department", "department"),
    ("subject", "subject"),
    ("purpose", "purpose"),
    ("outcome", "outcome"),
)
"""Each column of ``audit_entries`` copied from the entry, and the entry's member it holds."""
RECORDED_EARLY = timedelta(minutes=1)
"""How long before the entry's ``at`` its ``recorded_at`` may be: both are read from the same
worker's clock, the decision first; this much allows for the clock being stepped back."""
RECORDED_LATE = timedelta(minutes=10)
"""How long after the entry's ``at`` its ``recorded_at`` may be: the time the request spends
fetching from sources and waiting for its batch to commit."""

_NODES = cast(Table, AuditNode.__table__)
_MEMBERS = tuple(member for _, member in SEARCH_COLUMNS)
_COLUMNS = ", ".join(
    ["idx", "entry", "leaf_hash", "recorded_at", "object_id"] + [c for c, _ in SEARCH_COLUMNS]
)
_FIRST_PAGE = f"SELECT {_COLUMNS} FROM audit_entries ORDER BY idx LIMIT ?"  # noqa: S608
_NEXT_PAGE = f"SELECT {_COLUMNS} FROM audit_entries WHERE idx > ? ORDER BY idx LIMIT ?"  # noqa: S608
_NODE_RANGE = "SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx <= ?"
_Row = Sequence[Any]  # idx, entry, leaf_hash, recorded_at, object_id, then SEARCH_COLUMNS


def read_entries(
    session: Session, head_size: int | None, tree: Tree, replay: MapReplay, report: VerifyReport
) -> int:
    """Check every stored entry in index order; the index after the last one."""
    expected = 0
    for rows in _pages(session):
        stored = {} if tree.broken else _nodes_ending_in(session, tree.size, rows[-1][0] + 1)
        for row in rows:
            index = row[0]
            if index != expected:
                if index < expected:
                    report.add(
                        "sequence", index, f"an entry is stored at index {index}, outside the log"
                    )
                    continue
                report.add("sequence", expected, _missing(expected, index), count=index - expected)
                tree.stop(expected, report)
                replay.stop()
            if head_size is not None and index >= head_size:
                report.add("sequence", index, f"entry {index} lies beyond the head's size")
            leaf = bytes(row[2])
            entry = _check_entry(row, leaf, report)
            # an entry that does not match its leaf hash is reported as such; the map, which
            # commits to leaf hashes, is replayed with its column's subject, not reported again
            replay.push(row[9] if entry is None else entry.get("subject"), index, leaf)
            if not tree.broken:
                tree.push(leaf, stored, report)
            report.entries += 1
            expected = index + 1
    if head_size is not None and expected < head_size:
        report.add(
            "sequence",
            expected,
            f"{_missing(expected, head_size)}: the head says {head_size} entries",
            count=head_size - expected,
        )
    return expected


def _missing(start: int, end: int) -> str:
    if end - start == 1:
        return f"entry {start} is missing or out of order"
    return f"entries {start} to {end - 1} are missing or out of order"


def _pages(session: Session) -> Iterator[Sequence[_Row]]:
    """Every stored entry in index order as the driver's rows (no type processing: the
    timestamp is converted only where it is compared), in pages (keyset: each page after the
    last)."""
    page = PAGE
    rows = driver.run(session, _FIRST_PAGE, (page,))
    while rows:
        yield rows
        if len(rows) < page:
            return
        rows = driver.run(session, _NEXT_PAGE, (rows[-1][0], page))


def _check_entry(row: _Row, leaf: bytes, report: VerifyReport) -> dict[str, Any] | None:
    """A ``leaf`` problem if the entry's bytes do not hash to its leaf hash *leaf*, else a
    ``column`` problem if a search column is not the entry's; the entry, if its leaf hash
    holds."""
    index, text = row[0], row[1]
    if merkle.leaf_hash(text.encode("utf-8")) != leaf:  # the profile's, bound at start
        report.add("leaf", index, f"entry {index} does not match its leaf hash")
        return None
    entry = _object(text)
    if entry is None:
        report.add("column", index, f"entry {index} is not a JSON object to compare columns with")
        return None
    named = entry.get("object")
    if (
        tuple(row[5:]) == tuple(map(entry.get, _MEMBERS))
        and row[4] == (named.get("id") if isinstance(named, dict) else None)
        and _in_time(row[3], entry.get("at"))
    ):
        return entry
    bad = [
        column
        for (column, member), value in zip(SEARCH_COLUMNS, row[5:], strict=True)
        if value != entry.get(member)
    ]
    if row[4] != (named.get("id") if isinstance(named, dict) else None):
        bad.append("object_id")
    if not _in_time(row[3], entry.get("at")):
        bad.append("recorded_at")
    report.add(
        "column", index, f"the search columns of entry {index} differ from it: {', '.join(bad)}"
    )
    return entry


def _object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _in_time(stored: datetime | str, at: object) -> bool:
    """Whether the *stored* ``recorded_at`` (a ``datetime``, or SQLite's text of one) lies in
    the window around the entry's time *at*; an entry without a readable time says nothing
    about it."""
    if not isinstance(at, str):
        return True
    try:
        decided = datetime.fromisoformat(at)
    except ValueError:
        return True
    recorded = stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)
    decided, recorded = _aware(decided), _aware(recorded)
    return decided - RECORDED_EARLY <= recorded <= decided + RECORDED_LATE


def _aware(moment: datetime) -> datetime:
    """A timestamp read back without its zone is UTC (how the hub stores every one)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class Tree:
    """The compact range of entries 0 … size-1 (their complete subtrees, O(log n) hashes),
    checking every stored node a new leaf completes, and the roots at the *wanted* sizes. It
    stops for good at the first missing entry."""

    def __init__(self, wanted: set[int]) -> None:
        self.size = 0
        self.broken = False
        self.roots: dict[int, bytes] = {0: merkle.root([])}
        self._wanted = wanted
        self._stack: list[tuple[int, bytes]] = []  # (level, hash), left to right

    def push(self, leaf: bytes, stored: dict[tuple[int, int], bytes], report: VerifyReport) -> None:
        index, level, value = self.size, 0, leaf
        stack = self._stack
        while True:
            node = (level, index >> level)
            if stored.get(node) != value:
                state = "is missing" if node not in stored else "is not the recomputed one"
                report.add(
                    "node", index, f"the stored node at level {level}, index {node[1]} {state}"
                )
            report.nodes += 1
            if not stack or stack[-1][0] != level:
                stack.append((level, value))
                break
            _, left = stack.pop()
            level, value = level + 1, merkle.node_hash(left, value)
        self.size += 1
        if self.size in self._wanted:
            self.roots[self.size] = self.root()

    def root(self) -> bytes:
        root = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            root = merkle.node_hash(left, root)
        return root

    def stop(self, missing: int, report: VerifyReport) -> None:
        if not self.broken:
            self.broken = True
            report.skip(
                "node",
                missing,
                f"the stored nodes from entry {missing} on could not be checked: it is missing",
            )


def _nodes_ending_in(session: Session, start: int, end: int) -> dict[tuple[int, int], bytes]:
    """Stored nodes completed by a leaf in [start, end), one range a level."""
    found: dict[tuple[int, int], bytes] = {}
    for level, low, high in node_ranges(start, end):
        rows = driver.run(session, _NODE_RANGE, (level, low, high))
        found.update({(level, index): bytes(value) for index, value in rows})
    return found


def node_ranges(start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Per level, the indexes [low, high] of the nodes whose last leaf falls in [start, end)."""
    for level in range(64):
        low = -(-(start + 1) // (1 << level)) - 1
        high = end // (1 << level) - 1
        if high < 0:
            return
        if high >= low:
            yield level, low, high
