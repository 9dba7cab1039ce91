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

Checks 1–5 read the entries and the tree (:mod:`exchange.audit.verify_entries`, which streams
them as plain rows); the report is :mod:`exchange.audit.verify_report`'s.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit import vmap
from exchange.audit.checkpoint import NoteVerifier
from exchange.audit.errors import CheckpointError
from exchange.audit.models import AuditCheckpoint, AuditHead
from exchange.audit.verify_entries import (
    PAGE,
    RECORDED_EARLY,
    RECORDED_LATE,
    SEARCH_COLUMNS,
    Tree,
    read_entries,
)
from exchange.audit.verify_report import KINDS, Problem, VerifyReport
from exchange.audit.vmap_check import MapClaim, MapReplay, check_map

__all__ = [
    "KINDS",
    "PAGE",
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


@dataclass(frozen=True)
class HeldCheckpoint:
    """A signed checkpoint note kept outside the database (a receipt, a witness's answer, the
    verifier's own state file), and how the report names it."""

    name: str
    note: str


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
    tree = Tree(wanted)
    replay = MapReplay(wanted)
    extent = read_entries(session, None if head is None else head.size, tree, replay, report)
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


def _check_head(head: AuditHead, tree: Tree, report: VerifyReport) -> None:
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
    tree: Tree,
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
    signed: _Signed, tree: Tree, extent: int, good: list[int], report: VerifyReport, *, kind: str
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
