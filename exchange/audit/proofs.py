"""Proofs and roots over the stored tree: each reads O(log n) complete-subtree hashes.

``size`` is a tree size the log has reached (at most the head's); proofs are RFC 9162
inclusion and consistency proofs, verifiable with :mod:`exchange.audit.merkle`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from exchange.audit import merkle
from exchange.audit.errors import ProofRange
from exchange.audit.log import TreeReader
from exchange.audit.models import AuditHead

__all__ = ["Head", "consistency_proof", "head", "inclusion_proof", "root_at"]


@dataclass(frozen=True)
class Head:
    size: int
    root: bytes


def head(session: Session) -> Head:
    """The committed size and root of the log."""
    row = session.get(AuditHead, 1)
    if row is None:
        return Head(0, merkle.root([]))
    return Head(row.size, row.root)


def root_at(session: Session, size: int) -> bytes:
    """The root of the tree of the first *size* entries."""
    _check_size(session, size)
    tree = TreeReader(session)
    if size:
        tree.preload([merkle.Span(0, size)])
    return merkle.root_from(size, tree.get)


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    """The audit path of entry *index* in the tree of *size* entries."""
    _check_size(session, size)
    if not 0 <= index < size:
        raise ProofRange(f"entry {index} is not in a tree of {size} entries")
    tree = TreeReader(session)
    tree.preload(merkle.inclusion_path(index, size))  # one statement for the whole path
    return merkle.inclusion_proof(index, size, tree.get)


def consistency_proof(session: Session, old: int, new: int) -> list[bytes]:
    """The proof that the tree of *new* entries extends the tree of *old* entries."""
    _check_size(session, new)
    if not 0 < old <= new:
        raise ProofRange("a consistency proof needs 0 < from <= to")
    tree = TreeReader(session)
    tree.preload(merkle.consistency_path(old, new))
    return merkle.consistency_proof(old, new, tree.get)


def _check_size(session: Session, size: int) -> None:
    current = head(session).size
    if not 0 <= size <= current:
        raise ProofRange(f"the log has {current} entries; there is no tree of {size}")
