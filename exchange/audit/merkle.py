"""The audit log's Merkle tree (RFC 9162 §2.1): hashes, proofs from stored subtrees, verifiers.

Pure functions: no database, no I/O. The storage keeps the hash of every *complete* subtree,
addressed as :class:`Subtree` (level L, index i: the leaves [i·2^L, (i+1)·2^L)), and hands
the proof functions a ``get(level, index)`` that reads one. A proof node that is not complete
(the right edge of a tree whose size is not a power of two) is a :class:`Span`, hashed from
the O(log n) complete subtrees that cover it, so a proof or a root for any size reads
O(log n) stored nodes and never the leaves.

- Hashing, §2.1.1: leaf = H(0x00 ‖ data), node = H(0x01 ‖ left ‖ right), the empty tree's
  hash is H of the empty string, with H the crypto profile's hash: SHA-256 (``intl``, the
  default) or SM3 (``gm``, docs/gm.md). :func:`use_profile` binds :data:`leaf_hash`,
  :data:`node_hash` and :data:`EMPTY_ROOT` once, when the hub is built: the audit log calls
  ``merkle.leaf_hash``/``merkle.node_hash`` per entry and per node, and finds the profile's
  function there with no lookup of its own (under ``intl`` it is the very SHA-256 function it
  always was). A process runs one profile's tree at a time.
- Inclusion proofs: generated per §2.1.3.1, verified per §2.1.3.2.
- Consistency proofs: generated per §2.1.4.1 (for 0 < old <= new; equal sizes need the empty
  proof), verified per §2.1.4.2. Verifiers never raise; anything malformed is ``False``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeAlias

from exchange.security.gm.profile import CryptoProfile
from exchange.security.gm.symmetric import sm3

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "TREE_HASHES",
    "Node",
    "NodeReader",
    "Span",
    "Subtree",
    "combine",
    "completed_nodes",
    "consistency_path",
    "consistency_proof",
    "inclusion_path",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from",
    "span_subtrees",
    "use_profile",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class Subtree(NamedTuple):
    """A complete subtree: level L, index i covers the leaves [i·2^L, (i+1)·2^L)."""

    level: int
    index: int  # type: ignore[assignment]  # shadows tuple.index, which no caller needs


class Span(NamedTuple):
    """The leaves [start, end) of a proof node that is not a complete subtree."""

    start: int
    end: int


Node: TypeAlias = Subtree | Span
NodeReader: TypeAlias = Callable[[int, int], bytes]
"""``get(level, index)``: the stored hash of one complete subtree."""


def sha256_leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of a leaf, SHA-256(0x00 ‖ data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def sha256_node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of an interior node, SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def sm3_leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1 with SM3 for SHA-256 (``gm``): SM3(0x00 ‖ data)."""
    return sm3(b"\x00" + data)


def sm3_node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1 with SM3 for SHA-256 (``gm``): SM3(0x01 ‖ left ‖ right)."""
    return sm3(b"\x01" + left + right)


_HASHES: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes, bytes], bytes], bytes]] = {
    "intl": (sha256_leaf_hash, sha256_node_hash, EMPTY_ROOT),
    "gm": (sm3_leaf_hash, sm3_node_hash, sm3(b"")),
}
TREE_HASHES = _HASHES
"""Each profile's (leaf hash, node hash, empty root), for code that checks a tree of another
profile than the bound one (a witness of a ``gm`` log)."""
leaf_hash: Callable[[bytes], bytes] = sha256_leaf_hash
"""The leaf hash of the bound profile (:func:`use_profile`; SHA-256 until then)."""
node_hash: Callable[[bytes, bytes], bytes] = sha256_node_hash
"""The node hash of the bound profile (:func:`use_profile`; SHA-256 until then)."""
bound_profile = "intl"
"""The name of the profile whose hashes are bound."""


def use_profile(profile: CryptoProfile | str) -> None:
    """Bind :data:`leaf_hash`, :data:`node_hash` and :data:`EMPTY_ROOT` to *profile*'s hash
    (SHA-256 for ``intl``, SM3 for ``gm``), for every caller in this process."""
    global leaf_hash, node_hash, EMPTY_ROOT, bound_profile
    name = profile if isinstance(profile, str) else profile.name
    leaf_hash, node_hash, EMPTY_ROOT = _HASHES[name]
    bound_profile = name


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1: MTH over the given leaf hashes (all in memory; for small trees)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


def completed_nodes(n: int) -> list[Subtree]:
    """The complete subtrees that exist once leaf *n* (0-based) is appended: the leaf at level
    0, then every larger subtree whose last leaf it is, bottom up."""
    if n < 0:
        raise ValueError("a leaf index is never negative")
    nodes = [Subtree(0, n)]
    level, index = 0, n
    while index & 1:
        level, index = level + 1, index >> 1
        nodes.append(Subtree(level, index))
    return nodes


def span_subtrees(start: int, end: int) -> list[Subtree]:
    """The complete subtrees covering [start, end), largest first, as RFC 9162 splits a tree:
    *start* must be a multiple of the largest power of two not above ``end - start``."""
    if not 0 <= start < end:
        raise ValueError("a span covers at least one leaf")
    nodes: list[Subtree] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start % (1 << level):
            raise ValueError("the span does not start on a subtree boundary")
        nodes.append(Subtree(level, start >> level))
        start += 1 << level
    return nodes


def combine(hashes: Sequence[bytes]) -> bytes:
    """The hash of a span from its complete subtrees (largest first), right to left: for
    [a, b, c] it is node(a, node(b, c)), the MTH of §2.1.1 over a non-power-of-two range."""
    if not hashes:
        raise ValueError("nothing to combine")
    value = hashes[-1]
    for left in reversed(hashes[:-1]):
        value = node_hash(left, value)
    return value


def inclusion_path(index: int, size: int) -> list[Node]:
    """RFC 9162 §2.1.3.1: the nodes of the audit path of leaf *index* in a tree of *size*
    leaves, leaf end first (the proof order)."""
    if not 0 <= index < size:
        raise ValueError("the leaf is not in the tree")
    path: list[Node] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(_node(mid, hi))
            hi = mid
        else:
            path.append(_node(lo, mid))
            lo = mid
    return path[::-1]


def consistency_path(old: int, new: int) -> list[Node]:
    """RFC 9162 §2.1.4.1 (PROOF and SUBPROOF): the nodes of the consistency proof from a tree
    of *old* leaves to one of *new* leaves, in proof order; empty when the sizes are equal."""
    if not 0 < old <= new:
        raise ValueError("a consistency proof needs 0 < old <= new")
    path: list[Node] = []
    lo, hi, whole = 0, new, True
    while old != hi:
        mid = lo + _split(hi - lo)
        if old <= mid:
            path.append(_node(mid, hi))
            hi = mid
        else:
            path.append(_node(lo, mid))
            lo, whole = mid, False
    if not whole:
        path.append(_node(lo, hi))
    return path[::-1]


def inclusion_proof(index: int, size: int, get: NodeReader) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf *index* in the tree of *size* leaves, read from
    stored complete subtrees (at most 2·log2(size) + 1 calls to *get*)."""
    return [_hash(node, get) for node in inclusion_path(index, size)]


def consistency_proof(old: int, new: int, get: NodeReader) -> list[bytes]:
    """The RFC 9162 consistency proof from size *old* to size *new*, read from stored
    complete subtrees (at most 2·log2(new) + 2 calls to *get*)."""
    return [_hash(node, get) for node in consistency_path(old, new)]


def root_from(size: int, get: NodeReader) -> bytes:
    """The root of the tree of the first *size* leaves, from its complete subtrees."""
    if size < 0:
        raise ValueError("a tree size is never negative")
    if size == 0:
        return EMPTY_ROOT
    return _hash(Span(0, size), get)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether *proof* shows leaf hash *leaf* at *index* in the tree of
    *size* leaves whose root is *root_hash*. Never raises."""
    if not (_is_count(index) and _is_count(size) and index < size):
        return False
    if not (_is_hash(leaf) and _is_proof(proof) and isinstance(root_hash, bytes)):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(
    size1: int,
    size2: int,
    proof: Sequence[bytes],
    root1: bytes,
    root2: bytes,
    *,
    node: Callable[[bytes, bytes], bytes] | None = None,
) -> bool:
    """RFC 9162 §2.1.4.2: whether *proof* shows the tree of *size2* leaves with root *root2*
    extends the tree of *size1* leaves with root *root1*. A proof needs ``0 < size1``; equal
    sizes need the empty proof and equal roots. *node* is the tree's node hash when it is not
    this process's bound one (a witness checks other logs' trees: :data:`TREE_HASHES`). Never
    raises."""
    join = node if node is not None else node_hash
    if not (_is_count(size1) and _is_count(size2) and 0 < size1 <= size2):
        return False
    if not (_is_proof(proof) and isinstance(root1, bytes) and isinstance(root2, bytes)):
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if not proof:
        return False
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = join(c, fr), join(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = join(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == root1 and sr == root2


def _split(n: int) -> int:
    """The largest power of two smaller than *n* (n > 1), where §2.1.1 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def _node(start: int, end: int) -> Node:
    """The proof node for the leaves [start, end): a complete subtree when it is one."""
    width = end - start
    if width & (width - 1):
        return Span(start, end)
    level = width.bit_length() - 1
    return Subtree(level, start >> level)


def _hash(node: Node, get: NodeReader) -> bytes:
    if isinstance(node, Subtree):
        return get(node.level, node.index)
    return combine([get(level, index) for level, index in span_subtrees(node.start, node.end)])


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_proof(proof: object) -> bool:
    if not isinstance(proof, Sequence) or isinstance(proof, str | bytes | bytearray):
        return False
    return all(_is_hash(p) for p in proof)
