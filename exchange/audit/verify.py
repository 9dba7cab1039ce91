"""Recompute the whole log from storage and check everything the hub reads back from it
(``tongban audit verify``).

The checks, each of a *kind*, in this order. A failing check does not stop the others: the
report holds, per kind, the first bad index, how many are bad and the first one in plain words
(:attr:`VerifyReport.problems`); :attr:`VerifyReport.problem` is the first kind's.

1. ``sequence``: the entries are numbered 0, 1, 2, … with no gap and none beyond the head (a
   deleted, inserted or moved entry; the index is the primary key, so none is there twice);
2. ``leaf``: each entry's canonical bytes hash to its stored leaf hash (an edited entry);
3. ``column``: each column an auditor searches, a citizen's list shows and the console counts
   (:data:`SEARCH_COLUMNS`) holds the value of the entry it was copied from, and
   ``recorded_at`` lies from :data:`RECORDED_EARLY` before to :data:`RECORDED_LATE` after the
   entry's own time ``at`` (an entry moved into or out of a search without touching its text);
   compared only where the leaf hash holds, since an edited entry is not the one logged;
4. ``node``: each stored complete-subtree node, which proofs are served from, equals the node
   recomputed from the leaf hashes; the recomputation keeps O(log n) hashes in memory and reads
   entries and nodes in pages;
5. ``head``: the head's root equals the recomputed root at the head's size;
6. ``checkpoint``: every stored checkpoint's signature verifies with the hub's key and its
   root equals the recomputed root at its size (an altered checkpoint, or a log rewritten
   after it); every :class:`HeldCheckpoint` (a note kept outside the database) must be signed
   by the hub's key too;
7. ``shrink``: no stored checkpoint lies beyond the entries, and the log contains every held
   note: its size is within the log and the recomputed root at that size is the note's (a log
   cut back or rewritten, even once every stored checkpoint was deleted).
8. ``map`` (:mod:`exchange.audit.vmap_check`): the subject map recomputed from the entries;
   every signed checkpoint's map line (stored or held) commits to it at its size, and the
   stored map (its roots at those sizes and the head's, each subject's current value) is it;
9. ``witness`` (``tongban audit verify --policy``, :mod:`exchange.audit.witnessing`): every
   stored cosignature of a witness of the verifier's policy verifies, and a stored checkpoint
   meets the policy; each witness of the policy with a URL is asked for the newest checkpoint it
   cosigned, which the log must contain like any held note (check 7).
10. ``consent`` (:mod:`exchange.consent.lifecycle`, registered with :func:`register_rows`, as
   the log imports no room above it): every ``consents`` row's receipt verifies
   with a hub key, the row is what its receipt signed, its newest lifecycle entry in the log is
   about that receipt, and its stored status is the one that entry left (``used`` and
   ``expired`` may follow ``given`` without an entry); the first bad row is named (its newest
   entry's index when it has one). Check 3 covers ``object_id`` too: the lifecycle index
   (:mod:`exchange.audit.lifecycle`) must name the object of its entry.
11. ``agreement`` (:mod:`exchange.agreements.lifecycle`, registered the same way): every
    ``agreements`` row's signed terms verify with a hub key and equal the row (approved and
    revoked ones), its newest lifecycle entry carries the digest of those terms, and its
    stored status is the one that entry left (``expired`` may be derived, not stored); the
    first bad row is named.

The tree is recomputed from the stored leaf hashes, each bound to its entry by check 2 (an
edited entry is reported there, not again as forged nodes and roots), and never from stored
nodes, so a forged node spoils no root. A missing entry does: from it on no root can be
recomputed, and the nodes, the head and the checkpoints beyond it are reported as not checked
(:attr:`VerifyReport.unchecked`) rather than as altered.
"""

from __future__ import annotations

import json
from bisect import bisect_left, insort
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit import merkle, vmap
from exchange.audit.checkpoint import NoteVerifier
from exchange.audit.errors import CheckpointError
from exchange.audit.models import AuditCheckpoint, AuditHead, AuditNode, AuditRecord
from exchange.audit.vmap_check import MapClaim, MapReplay, check_map

__all__ = [
    "KINDS",
    "RECORDED_EARLY",
    "RECORDED_LATE",
    "SEARCH_COLUMNS",
    "HeldCheckpoint",
    "Problem",
    "RowProblems",
    "VerifyReport",
    "register_rows",
    "verify_log",
]

PAGE = 4096
KINDS = (
    "sequence",
    "leaf",
    "column",
    "node",
    "head",
    "checkpoint",
    "shrink",
    "map",
    "witness",
    "consent",
    "agreement",
)
"""The kinds of check, in the order they are listed above."""
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


@dataclass(frozen=True)
class Problem:
    """What one kind of check found: the first bad index (None when the problem has none, as a
    checkpoint's signature), how many are bad, and the first one in plain words."""

    first_index: int | None
    count: int
    message: str


@dataclass(frozen=True)
class HeldCheckpoint:
    """A signed checkpoint note kept outside the database (a receipt, a witness's answer, the
    verifier's own state file), and how the report names it."""

    name: str
    note: str


@dataclass
class VerifyReport:
    """What :func:`verify_log` found: how many entries it read, stored nodes and checkpoints and
    held notes it checked; per kind (:data:`KINDS`) the ``problems`` and the checks that could
    not be made (``unchecked``); the verified head and, if one is stored, its checkpoint note;
    and the recomputed root at every size asked about (each checkpoint's, each held note's, the
    head's)."""

    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    held: int = 0
    maps: int = 0  # signed map roots that held
    problems: dict[str, Problem] = field(default_factory=dict)
    unchecked: dict[str, Problem] = field(default_factory=dict)
    head: tuple[int, bytes] | None = None  # the head's (size, root), once verified
    head_note: str | None = None  # the stored checkpoint note of the verified head, if any
    roots: dict[int, bytes] = field(default_factory=dict, repr=False)
    map_roots: dict[int, bytes] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unchecked

    @property
    def first(self) -> Problem | None:
        """The problem of the first kind, in the order of the checks."""
        return next((self.problems[kind] for kind in KINDS if kind in self.problems), None)

    @property
    def first_bad_index(self) -> int | None:
        return None if self.first is None else self.first.first_index

    @property
    def problem(self) -> str | None:
        return None if self.first is None else self.first.message

    def add(self, kind: str, index: int | None, message: str, count: int = 1) -> None:
        _count(self.problems, kind, index, message, count)

    def skip(self, kind: str, index: int | None, message: str) -> None:
        _count(self.unchecked, kind, index, message, 1)


def _count(found: dict[str, Problem], kind: str, index: int | None, message: str, n: int) -> None:
    known = found.get(kind)
    found[kind] = (
        Problem(index, n, message) if known is None else replace(known, count=known.count + n)
    )


def verify_log(
    session: Session, verifier: NoteVerifier, *, held: Sequence[HeldCheckpoint] = ()
) -> VerifyReport:
    """Check the stored log, and that it contains every *held* note; see the module docstring
    for the checks and their order."""
    report = VerifyReport()
    notes = _open_held(verifier, held, report)
    head = session.get(AuditHead, 1)
    if head is None:
        report.add("head", None, "the log has no head row")
    wanted = set(session.scalars(select(AuditCheckpoint.size)))
    wanted.update(n.size for n in notes)
    if head is not None:
        wanted.add(head.size)
    tree = _Tree(wanted)
    replay = MapReplay(wanted)
    extent = _read_entries(session, None if head is None else head.size, tree, replay, report)
    report.roots, report.map_roots = tree.roots, replay.roots
    if head is not None:
        _check_head(head, tree, report)
    claims: list[MapClaim] = []
    good = _check_stored_checkpoints(session, verifier, tree, extent, report, claims)
    for note in notes:
        if _contains(note, tree, extent, good, report, kind="shrink"):
            report.held += 1
            if note.map_root is not None:
                claims.append(MapClaim(note.name, note.size, note.map_root))
    report.maps = check_map(
        session,
        replay,
        claims,
        None if head is None else head.size,
        lambda index, message: report.add("map", index, message),
    )
    _check_rows(session, report)
    return report


RowProblems = Callable[[Session], Iterator[tuple[int | None, str]]]
"""A check of the rows a room above the log keeps in step with it: for each bad row, the index
of its newest lifecycle entry (None when it has none) and the row named in plain words."""

_ROW_CHECKS: dict[str, RowProblems] = {}


def register_rows(kind: str, check: RowProblems) -> None:
    """Make *check* the check of *kind* (one of :data:`KINDS`, after the log's own): a room
    above the log (consent, agreements) registers its rows' check when it is imported, since
    the log imports no room above it."""
    if kind not in KINDS[KINDS.index("witness") + 1 :]:
        raise ValueError(f"{kind!r} is not a kind of row check")
    _ROW_CHECKS[kind] = check


def _check_rows(session: Session, report: VerifyReport) -> None:
    """Checks 10 on: every registered row check, in the order of :data:`KINDS`."""
    for kind in KINDS:
        check = _ROW_CHECKS.get(kind)
        if check is not None:
            for index, message in check(session):
                report.add(kind, index, message)


# -- entries, leaves and columns ------------------------------------------------------------


def _read_entries(
    session: Session, head_size: int | None, tree: _Tree, replay: MapReplay, report: VerifyReport
) -> int:
    """Check every stored entry in index order; the index after the last one."""
    expected = 0
    for records in _pages(session):
        stored = {} if tree.broken else _nodes_ending_in(session, tree.size, records[-1].index + 1)
        for record in records:
            index = record.index
            if index < expected:
                report.add(
                    "sequence", index, f"an entry is stored at index {index}, outside the log"
                )
                continue
            if index > expected:
                report.add("sequence", expected, _missing(expected, index), count=index - expected)
                tree.stop(expected, report)
                replay.stop()
            if head_size is not None and index >= head_size:
                report.add("sequence", index, f"entry {index} lies beyond the head's size")
            entry = _check_entry(record, report)
            # an entry that does not match its leaf hash is reported as such; the map, which
            # commits to leaf hashes, is replayed with its column's subject, not reported again
            subject = record.subject if entry is None else entry.get("subject")
            replay.push(subject, index, record.leaf_hash)
            if not tree.broken:
                tree.push(record.leaf_hash, stored, report)
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


def _pages(session: Session) -> Iterator[list[AuditRecord]]:
    """Every stored entry in index order, in pages (keyset: each page after the last)."""
    after: int | None = None
    while True:
        query = select(AuditRecord).order_by(AuditRecord.index).limit(PAGE)
        if after is not None:
            query = query.where(AuditRecord.index > after)
        records = list(session.scalars(query))
        if records:
            yield records
        if len(records) < PAGE:
            return
        after = records[-1].index


def _check_entry(record: AuditRecord, report: VerifyReport) -> dict[str, Any] | None:
    """A ``leaf`` problem if the entry's bytes do not hash to its leaf hash, else a ``column``
    problem if a search column is not the entry's; the entry, if its leaf hash holds."""
    index = record.index
    if merkle.leaf_hash(record.entry.encode("utf-8")) != record.leaf_hash:
        report.add("leaf", index, f"entry {index} does not match its leaf hash")
        return None
    entry = _object(record.entry)
    if entry is None:
        report.add("column", index, f"entry {index} is not a JSON object to compare columns with")
        return None
    bad = [
        column for column, member in SEARCH_COLUMNS if getattr(record, column) != entry.get(member)
    ]
    named = entry.get("object")
    if record.object_id != (named.get("id") if isinstance(named, dict) else None):
        bad.append("object_id")
    if not _in_time(record.recorded_at, entry.get("at")):
        bad.append("recorded_at")
    if bad:
        columns = ", ".join(bad)
        report.add(
            "column", index, f"the search columns of entry {index} differ from it: {columns}"
        )
    return entry


def _object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _in_time(recorded: datetime, at: object) -> bool:
    """Whether *recorded* lies in the window around the entry's time *at*; an entry without a
    readable time says nothing about it."""
    if not isinstance(at, str):
        return True
    try:
        decided = datetime.fromisoformat(at)
    except ValueError:
        return True
    decided, recorded = _aware(decided), _aware(recorded)
    return decided - RECORDED_EARLY <= recorded <= decided + RECORDED_LATE


def _aware(moment: datetime) -> datetime:
    """A timestamp read back without its zone is UTC (how the hub stores every one)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# -- the tree --------------------------------------------------------------------------------


class _Tree:
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
        while True:
            node = (level, index >> level)
            if stored.get(node) != value:
                state = "is missing" if node not in stored else "is not the recomputed one"
                report.add(
                    "node", index, f"the stored node at level {level}, index {node[1]} {state}"
                )
            report.nodes += 1
            if not self._stack or self._stack[-1][0] != level:
                self._stack.append((level, value))
                break
            _, left = self._stack.pop()
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
    """Stored nodes completed by a leaf in [start, end): per level, the index range whose last
    leaf falls there."""
    found: dict[tuple[int, int], bytes] = {}
    for level in range(64):
        low = -(-(start + 1) // (1 << level)) - 1
        high = end // (1 << level) - 1
        if high < 0:
            break
        if high < low:
            continue
        rows = session.execute(
            select(AuditNode.index, AuditNode.hash).where(
                AuditNode.level == level, AuditNode.index >= low, AuditNode.index <= high
            )
        )
        found.update({(level, index): value for index, value in rows})
    return found


def _check_head(head: AuditHead, tree: _Tree, report: VerifyReport) -> None:
    root = tree.roots.get(head.size)
    if root is None:
        report.skip(
            "head",
            tree.size,
            f"the head's root could not be checked: entries are missing below its size {head.size}",
        )
    elif root != head.root:
        report.add("head", None, "the head's root is not the entries' root")
    else:
        report.head = (head.size, root)


# -- checkpoints -----------------------------------------------------------------------------


class _Signed(NamedTuple):
    """A checkpoint whose hub signature verified, and how the report names it."""

    name: str
    size: int
    root: bytes
    map_root: bytes | None = None


def _open_held(
    verifier: NoteVerifier, held: Sequence[HeldCheckpoint], report: VerifyReport
) -> list[_Signed]:
    opened = []
    for note in held:
        try:
            checkpoint = verifier.verify(note.note, origin=verifier.name)
        except CheckpointError as exc:
            report.add(
                "checkpoint", None, f"{note.name} is not a checkpoint of this hub: {exc.detail}"
            )
            continue
        name = f"{note.name} (size {checkpoint.size})"
        map_root = _map_root(checkpoint.extensions, name, report)
        opened.append(_Signed(name, checkpoint.size, checkpoint.root, map_root))
    return opened


def _map_root(extensions: Sequence[str], name: str, report: VerifyReport) -> bytes | None:
    try:
        return vmap.map_root_in(extensions)
    except ValueError as exc:
        report.add("map", None, f"{name}: {exc}")
        return None


def _check_stored_checkpoints(
    session: Session,
    verifier: NoteVerifier,
    tree: _Tree,
    extent: int,
    report: VerifyReport,
    claims: list[MapClaim],
) -> list[int]:
    """Check every stored checkpoint, smallest first; the sizes of those that hold. Each one's
    map line, if it has one, joins *claims*."""
    good: list[int] = []
    for row in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size)):
        name = f"the checkpoint at size {row.size}"
        try:
            signed = verifier.verify(row.note)
        except CheckpointError:
            report.add("checkpoint", None, f"{name} is not validly signed")
            continue
        if (signed.size, signed.root) != (row.size, row.root):
            report.add("checkpoint", None, f"{name} differs from its note")
            continue
        if _contains(
            _Signed(name, row.size, row.root), tree, extent, good, report, kind="checkpoint"
        ):
            report.checkpoints += 1
            map_root = _map_root(signed.extensions, name, report)
            if map_root is not None:
                claims.append(MapClaim(name, row.size, map_root))
            if report.head is not None and row.size == report.head[0]:
                report.head_note = row.note
    return good


def _contains(
    signed: _Signed, tree: _Tree, extent: int, good: list[int], report: VerifyReport, *, kind: str
) -> bool:
    """Whether the log holds the checkpoint *signed*: its size within the entries, the root
    recomputed at that size the same. A root that differs is a *kind* problem; *good* (sorted)
    gains the size if it holds."""
    if signed.size > extent:
        report.add(
            "shrink",
            extent,
            f"{signed.name} lies beyond the log's {extent} entries: it was cut back",
        )
        return False
    root = tree.roots.get(signed.size)
    if root is None:
        report.skip(
            kind, tree.size, f"{signed.name} could not be checked: entries are missing below it"
        )
        return False
    if root != signed.root:
        earlier = bisect_left(good, signed.size)
        report.add(
            kind,
            good[earlier - 1] if earlier else 0,
            f"{signed.name} has another root: the log was rewritten",
        )
        return False
    insort(good, signed.size)
    return True
