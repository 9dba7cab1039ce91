"""Proofs and roots over the stored tree: each reads O(log n) complete-subtree hashes, with the
head, in one statement.

``size`` is a tree size the log has reached (at most the head's); proofs are RFC 9162
inclusion and consistency proofs, verifiable with :mod:`exchange.audit.merkle`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from exchange.audit import merkle
from exchange.audit.errors import ProofRange
from exchange.audit.log import TreeReader

__all__ = ["Head", "consistency_proof", "head", "inclusion_proof", "root_at"]


@dataclass(frozen=True)
class Head:
    size: int
    root: bytes


def head(session: Session) -> Head:
    """The committed size and root of the log."""
    return _head(TreeReader(session).preload((), with_head=True))


def root_at(session: Session, size: int) -> bytes:
    """The root of the tree of the first *size* entries."""
    tree = TreeReader(session)
    _check_size(tree.preload([merkle.Span(0, size)] if size > 0 else [], with_head=True), size)
    return merkle.root_from(size, tree.get)


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    """The audit path of entry *index* in the tree of *size* entries: the head and every node
    of the path in one statement."""
    tree = TreeReader(session)
    path = merkle.inclusion_path(index, size) if 0 <= index < size else []
    _check_size(tree.preload(path, with_head=True), size)
    if not 0 <= index < size:
        raise ProofRange(f"entry {index} is not in a tree of {size} entries")
    return merkle.inclusion_proof(index, size, tree.get)


def consistency_proof(session: Session, old: int, new: int) -> list[bytes]:
    """The proof that the tree of *new* entries extends the tree of *old* entries: the head and
    every node of the proof in one statement."""
    tree = TreeReader(session)
    path = merkle.consistency_path(old, new) if 0 < old <= new else []
    _check_size(tree.preload(path, with_head=True), new)
    if not 0 < old <= new:
        raise ProofRange("a consistency proof needs 0 < from <= to")
    return merkle.consistency_proof(old, new, tree.get)


def _head(found: tuple[int, bytes] | None) -> Head:
    return Head(0, merkle.root([])) if found is None else Head(*found)


def _check_size(found: tuple[int, bytes] | None, size: int) -> None:
    current = _head(found).size
    if not 0 <= size <= current:
        raise ProofRange(f"the log has {current} entries; there is no tree of {size}")
