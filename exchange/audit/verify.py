"""Recompute the whole log from storage and check it (``tongban audit verify``).

In order, stopping at the first failure, which names the first bad index:

1. entries are numbered 0, 1, 2, … with no gap, no duplicate and none beyond the head
   (a deleted, inserted or reordered entry);
2. each entry's canonical bytes hash to its stored leaf hash (an edited entry);
3. each stored complete-subtree node equals the node recomputed from the entries (a forged
   node); the recomputation keeps only O(log n) hashes in memory and reads entries and nodes in
   pages;
4. the head's size and root equal the recomputed tree's;
5. every stored checkpoint's signature verifies with the hub's key, and its root equals the
   recomputed root at its size (an altered checkpoint, or a log rewritten after it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit import merkle
from exchange.audit.checkpoint import NoteVerifier
from exchange.audit.errors import CheckpointError
from exchange.audit.models import AuditCheckpoint, AuditHead, AuditNode, AuditRecord

__all__ = ["VerifyReport", "verify_log"]

PAGE = 4096


@dataclass
class VerifyReport:
    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    first_bad_index: int | None = None
    problem: str | None = None
    roots: dict[int, bytes] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def fail(self, index: int | None, problem: str) -> VerifyReport:
        self.first_bad_index, self.problem = index, problem
        return self


def verify_log(session: Session, verifier: NoteVerifier) -> VerifyReport:
    """Check the stored log; see the module docstring for the order of checks."""
    report = VerifyReport()
    head = session.get(AuditHead, 1)
    if head is None:
        return report.fail(None, "the log has no head row")
    wanted = {c.size for c in session.scalars(select(AuditCheckpoint))}
    stack: list[tuple[int, bytes]] = []  # complete subtrees (level, hash), left to right
    expected = 0
    for start in range(0, max(head.size, 1) + PAGE, PAGE):
        records = _page(session, start)
        if not records:
            break
        nodes = _nodes_ending_in(session, start, start + PAGE)
        for record in records:
            if record.index != expected:
                bad = min(record.index, expected)
                return report.fail(bad, f"entry {expected} is missing or out of order")
            if expected >= head.size:
                return report.fail(expected, f"entry {expected} lies beyond the head's size")
            leaf = merkle.leaf_hash(record.entry.encode("utf-8"))
            if leaf != record.leaf_hash:
                return report.fail(expected, f"entry {expected} does not match its leaf hash")
            problem = _push(stack, leaf, expected, nodes, report)
            if problem is not None:
                return report.fail(expected, problem)
            expected += 1
            report.entries = expected
            if expected in wanted:
                report.roots[expected] = _root(stack)
    if expected != head.size:
        return report.fail(expected, f"the head says {head.size} entries; {expected} are stored")
    root = _root(stack) if expected else merkle.root([])
    if root != head.root:
        return report.fail(max(expected - 1, 0), "the head's root is not the entries' root")
    report.roots[expected] = root
    return _check_checkpoints(session, verifier, report)


def _page(session: Session, start: int) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.index >= start)
            .order_by(AuditRecord.index)
            .limit(PAGE)
        )
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


def _push(
    stack: list[tuple[int, bytes]],
    leaf: bytes,
    index: int,
    stored: dict[tuple[int, int], bytes],
    report: VerifyReport,
) -> str | None:
    """Add leaf *index* to the compact range and check every node it completes."""
    level, value = 0, leaf
    while True:
        node = (level, index >> level)
        if stored.get(node) != value:
            return f"the stored node at level {level}, index {node[1]} is not the recomputed one"
        report.nodes += 1
        if not stack or stack[-1][0] != level:
            stack.append((level, value))
            return None
        _, left = stack.pop()
        level, value = level + 1, merkle.node_hash(left, value)


def _root(stack: list[tuple[int, bytes]]) -> bytes:
    root = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        root = merkle.node_hash(left, root)
    return root


def _check_checkpoints(
    session: Session, verifier: NoteVerifier, report: VerifyReport
) -> VerifyReport:
    for row in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size)):
        try:
            signed = verifier.verify(row.note)
        except CheckpointError:
            return report.fail(None, f"the checkpoint at size {row.size} is not validly signed")
        if (signed.size, signed.root) != (row.size, row.root):
            return report.fail(None, f"the checkpoint at size {row.size} differs from its note")
        recomputed = report.roots.get(row.size) if row.size else merkle.root([])
        if recomputed != row.root:
            first = _first_after(report, row.size)
            return report.fail(first, f"the checkpoint at size {row.size} has another root")
        report.checkpoints += 1
    return report


def _first_after(report: VerifyReport, size: int) -> int:
    """The first index the checkpoint covers that no earlier good checkpoint vouched for."""
    earlier = [s for s in report.roots if s < size]
    return max(earlier, default=0)
