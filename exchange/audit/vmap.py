"""The subject map: a verifiable index of the audit log by subject, and its proofs.

A sparse Merkle tree over 256-bit keys (Key Transparency / CONIKS style), compressed as Diem's
Jellyfish Merkle Tree: a subtree that holds one key is that key's leaf, placed as high as it is
alone. Each subject's value commits to the ordered list of that subject's log entries, so a proof
against the map root of a checkpoint shows a citizen's list of accesses is *complete* up to that
checkpoint. Pure functions: no database, no I/O (storage: :mod:`exchange.audit.vmap_store`).

Byte layouts (``‖`` is concatenation, ``u64``/``u16`` big-endian unsigned integers, every hash
the crypto profile's, 32 bytes: SHA-256 under ``intl``, SM3 under ``gm``, bound once per process
by :func:`use_profile` as the log's tree hash is; docs/gm.md; "SHA-256" below stands for it):

- **Key** of a subject: ``SHA-256("tongban/vmap/v1 key\\n" ‖ pseudonym)``, the pseudonym (the
  audit entries' ``subject``, 64 hex digits, already keyed: ``exchange.security.subjects``) as
  UTF-8. No personal data enters the map. A key is read as 256 bits, the most significant bit of
  its first byte first; bit *d* chooses the child at depth *d* (0 left, 1 right).
- **Value** of a subject with entries ``(index_1, leaf_1) … (index_n, leaf_n)`` in log order
  (the RFC 9162 leaf hashes of the log): ``chain_0`` = 32 zero bytes,
  ``chain_i = SHA-256(0x02 ‖ chain_{i-1} ‖ u64(index_i) ‖ leaf_i)``, and the value hash
  ``SHA-256(0x03 ‖ u64(n) ‖ chain_n)``. A subject without entries is not in the map.
- **Tree.** The hash of a subtree with no key is ``EMPTY``, 32 zero bytes; with exactly one key
  *k* of value hash *v*, the leaf ``SHA-256(0x00 ‖ k ‖ v)``; with two keys or more,
  ``SHA-256(0x01 ‖ left ‖ right)``. The root is the whole tree's hash (``EMPTY`` for the empty
  map). A node is addressed by its depth *d* (the root is at 0) and its prefix, the first *d*
  bits of every key under it, held as ⌈d/8⌉ bytes whose bits after the *d*-th are zero.
- **Proof** for a key *k*: the path from the root towards *k* down to where it ends, in a leaf
  (*k*'s own: inclusion; another key's: non-inclusion) or in an empty subtree (non-inclusion)::

      proof = kind ‖ u16(depth) ‖ bitmap ‖ sibling… ‖ [leaf_key ‖ leaf_value]

  ``kind`` is 0x00 when the path ends in an empty subtree and 0x01 when it ends in a leaf, whose
  key and value hash then close the proof; ``depth`` (0–256) is the depth where it ends;
  ``bitmap`` has ⌈depth/8⌉ bytes, bit *i* (most significant first) set when sibling *i* is not
  empty, the bits past ``depth`` zero; sibling *i* is the hash of the node at depth *i* + 1
  whose prefix is *k*'s first *i* bits then the complement of bit *i*. Only the siblings the
  bitmap marks follow, in order of *i* (root end first), and none of them is 32 zero bytes.

A verifier, in this order (any failure is ``False``; nothing raises):

1. decode strictly: kind, depth, bitmap padding, sibling count, exact length;
2. the path is the canonical one: when ``depth`` > 0 the last sibling is not empty (else the
   leaf would sit higher, or the empty subtree would be part of a larger one), and a leaf's key
   shares *k*'s first ``depth`` bits;
3. inclusion: the leaf's key is *k* and its value the expected value hash; non-inclusion: the
   path ends empty, or in a leaf whose key is not *k*;
4. fold upwards: ``h`` = the leaf's hash or ``EMPTY``; for *i* = depth − 1 … 0,
   ``h = node(h, sibling_i)`` when bit *i* of *k* is 0, else ``node(sibling_i, h)``; ``h``
   must be the root.

A complete list (:func:`verify_complete`): entries with strictly increasing indexes (below the
checkpoint's size), whose value hash the map holds at the subject's key; no entries, when the
proof shows the key absent.
"""

from __future__ import annotations

import base64
import hashlib
import re
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from operator import itemgetter
from typing import NamedTuple, TypeAlias

from exchange.security.gm.profile import CryptoProfile, profile_named

__all__ = [
    "EMPTY",
    "HASH_SIZE",
    "KEY_BITS",
    "MAP_LINE",
    "Leaf",
    "Node",
    "NodeReader",
    "NodeWriter",
    "Proof",
    "Value",
    "build",
    "chain_hash",
    "child_prefix",
    "decode_proof",
    "key_bit",
    "leaf_hash",
    "map_line",
    "map_root_in",
    "mapped_subject",
    "node_hash",
    "path_positions",
    "prefix_of",
    "prove",
    "root",
    "subject_key",
    "update",
    "use_profile",
    "value_hash",
    "value_of",
    "verify_complete",
    "verify_inclusion",
    "verify_non_inclusion",
]

HASH_SIZE = 32
KEY_BITS = 256
EMPTY = bytes(HASH_SIZE)
KEY_TAG = b"tongban/vmap/v1 key\n"
_LEAF, _NODE, _CHAIN, _VALUE = b"\x00", b"\x01", b"\x02", b"\x03"
_ENDS_EMPTY, _ENDS_IN_LEAF = 0, 1
_key = itemgetter(0)


_PSEUDONYM = re.compile(r"[0-9a-f]{64}")
MAP_LINE = "tongban/vmap/v1 "
"""How a checkpoint commits to the map: the extension line ``tongban/vmap/v1 <base64 root>``
after its root hash, the root of the map at the checkpoint's size."""


def mapped_subject(subject: object) -> str | None:
    """An entry's ``subject`` if the map holds it (a pseudonym, 64 lowercase hex digits), else
    ``None``: an agreement's entries (subject ``-``) are about no one."""
    return subject if isinstance(subject, str) and _PSEUDONYM.fullmatch(subject) else None


def map_line(root: bytes) -> str:
    """The checkpoint extension line committing to the map of *root*."""
    return MAP_LINE + base64.b64encode(root).decode("ascii")


def map_root_in(extensions: Iterable[str]) -> bytes | None:
    """The map root a checkpoint's extension lines commit to; ``None`` if none does (a
    checkpoint signed before the map was kept); ``ValueError`` if the line is malformed or
    there are two."""
    found = [line[len(MAP_LINE) :] for line in extensions if line.startswith(MAP_LINE)]
    if not found:
        return None
    if len(found) > 1:
        raise ValueError("a checkpoint commits to one subject map")
    try:
        root = base64.b64decode(found[0], validate=True)
    except ValueError:
        raise ValueError("the subject map line is not base64") from None
    if len(root) != HASH_SIZE or base64.b64encode(root).decode("ascii") != found[0]:
        raise ValueError("the subject map line is not one base64 hash")
    return root


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


_digest: Callable[[bytes], bytes] = _sha256
"""The bound profile's hash (:func:`use_profile`; SHA-256 until then)."""
bound_profile = "intl"
"""The name of the profile whose hash the map uses."""


def use_profile(profile: CryptoProfile | str) -> None:
    """Hash the map with *profile*'s hash (SHA-256 for ``intl``, SM3 for ``gm``) in this
    process, as :func:`exchange.audit.merkle.use_profile` does the log's tree."""
    global _digest, bound_profile
    chosen = profile_named(profile) if isinstance(profile, str) else profile
    _digest = _sha256 if chosen.name == "intl" else chosen.hash
    bound_profile = chosen.name


def subject_key(pseudonym: str) -> bytes:
    """The map key of the subject whose audit entries carry *pseudonym*."""
    return _digest(KEY_TAG + pseudonym.encode("utf-8"))


def leaf_hash(key: bytes, value: bytes) -> bytes:
    """A subtree holding one key: SHA-256(0x00 ‖ key ‖ value hash)."""
    return _digest(_LEAF + key + value)


def node_hash(left: bytes, right: bytes) -> bytes:
    """A subtree holding two keys or more: SHA-256(0x01 ‖ left ‖ right)."""
    return _digest(_NODE + left + right)


def chain_hash(chain: bytes, index: int, leaf: bytes) -> bytes:
    """One more entry of a subject: SHA-256(0x02 ‖ chain ‖ u64 index ‖ log leaf hash)."""
    return _digest(_CHAIN + chain + index.to_bytes(8, "big") + leaf)


def value_hash(count: int, chain: bytes) -> bytes:
    """A subject's value: SHA-256(0x03 ‖ u64 count ‖ chain)."""
    return _digest(_VALUE + count.to_bytes(8, "big") + chain)


@dataclass(frozen=True)
class Value:
    """What the map holds of one subject: how many entries, their chain, the last index."""

    count: int = 0
    chain: bytes = EMPTY
    last_index: int = -1

    @property
    def hash(self) -> bytes:
        return value_hash(self.count, self.chain)

    def extend(self, index: int, leaf: bytes) -> Value:
        """The value once entry *index* (log leaf hash *leaf*) is added; indexes only grow."""
        if not (_is_count(index) and index > self.last_index and _is_hash(leaf)):
            raise ValueError("an entry needs a larger index and a 32-byte leaf hash")
        return Value(self.count + 1, chain_hash(self.chain, index, leaf), index)


def value_of(entries: Iterable[tuple[int, bytes]]) -> Value:
    """The value of a subject with these (index, leaf hash) entries, in log order."""
    value = Value()
    for index, leaf in entries:
        value = value.extend(index, leaf)
    return value


class Leaf(NamedTuple):
    """A subtree holding one key: the key and its value hash."""

    key: bytes
    value: bytes


class Node(NamedTuple):
    """A stored node: its hash and, for a leaf, the key and value hash it holds, or for an inner
    node its children's hashes (so a path's nodes hold every sibling a change or proof needs)."""

    hash: bytes
    leaf: Leaf | None = None
    children: tuple[bytes, bytes] | None = None


NodeReader: TypeAlias = Callable[[int, bytes], Node | None]
"""``get(depth, prefix)``: the node there, or ``None`` for an empty subtree."""
NodeWriter: TypeAlias = Callable[[int, bytes, Node], None]
"""``put(depth, prefix, node)``: called for every node a change makes, children first."""


def key_bit(key: bytes, depth: int) -> int:
    """Bit *depth* of *key* (0 is the most significant bit of the first byte)."""
    return (key[depth >> 3] >> (7 - (depth & 7))) & 1


def prefix_of(key: bytes, depth: int) -> bytes:
    """The first *depth* bits of *key*, as ⌈depth/8⌉ bytes with the bits after them zero."""
    size, spare = -(-depth // 8), -depth % 8
    if not spare:
        return key[:size]
    return key[: size - 1] + bytes([key[size - 1] & (0xFF << spare) & 0xFF])


def child_prefix(prefix: bytes, depth: int, bit: int) -> bytes:
    """The prefix of the child on side *bit* of the node at *depth* with *prefix*."""
    if depth & 7 == 0:
        return prefix + bytes([bit << 7])
    if not bit:
        return prefix
    return prefix[:-1] + bytes([prefix[-1] | (0x80 >> (depth & 7))])


def path_positions(key: bytes, start: int, stop: int) -> list[tuple[int, bytes]]:
    """The positions of *key*'s path at the depths [start, stop): all a change or a proof
    reads there (siblings are in the inner nodes)."""
    return [(depth, prefix_of(key, depth)) for depth in range(start, min(stop, KEY_BITS + 1))]


def build(leaves: Iterable[Leaf], put: NodeWriter, depth: int = 0, prefix: bytes = b"") -> bytes:
    """The hash of the compact subtree at (*depth*, *prefix*) holding exactly *leaves* (every
    key under *prefix*), handing each of its nodes to *put*."""
    ordered = _sorted_leaves(leaves)
    return _build(ordered, 0, len(ordered), depth, prefix, put)


def root(leaves: Iterable[Leaf]) -> bytes:
    """The root of the map holding exactly *leaves*, computed from scratch."""
    return build(leaves, _discard)


def update(get: NodeReader, changes: Mapping[bytes, bytes], put: NodeWriter) -> bytes:
    """The new root once each key of *changes* holds its new value hash. *get* reads the
    current tree, only the nodes on the changed keys' paths; every node that changes is handed
    to *put*, once, children first; the root last."""
    leaves = _sorted_leaves(Leaf(key, value) for key, value in changes.items())
    if not leaves:
        current = get(0, b"")
        return EMPTY if current is None else current.hash
    return _update(get, put, leaves, 0, len(leaves), 0, b"")


def prove(get: NodeReader, key: bytes) -> Proof:
    """The proof for *key* (inclusion if the map holds it, else non-inclusion), read from the
    nodes on its path."""
    siblings: list[bytes] = []
    depth, prefix = 0, b""
    node = get(0, b"")
    while node is not None and node.leaf is None:
        bit = key_bit(key, depth)
        siblings.append(_children(node, depth)[1 - bit])
        depth, prefix = depth + 1, child_prefix(prefix, depth, bit)
        node = get(depth, prefix)
    return Proof(tuple(siblings), None if node is None else node.leaf)


@dataclass(frozen=True)
class Proof:
    """The path towards a key: sibling *i* at depth *i* + 1 (``EMPTY`` when empty), and the
    leaf where the path ends, or ``None`` when it ends in an empty subtree."""

    siblings: tuple[bytes, ...]
    leaf: Leaf | None

    def __post_init__(self) -> None:
        if not isinstance(self.siblings, tuple) or len(self.siblings) > KEY_BITS:
            raise ValueError("a proof has a tuple of at most 256 siblings")
        if not all(_is_hash(s) for s in self.siblings):
            raise ValueError("a sibling is a 32-byte hash")
        if self.leaf is not None and not (
            isinstance(self.leaf, Leaf) and _is_hash(self.leaf.key) and _is_hash(self.leaf.value)
        ):
            raise ValueError("a proof's leaf is a 32-byte key and a 32-byte value hash")

    @property
    def depth(self) -> int:
        return len(self.siblings)

    def encode(self) -> bytes:
        """The proof's bytes (module docstring)."""
        bitmap = bytearray(-(-self.depth // 8))
        for i, sibling in enumerate(self.siblings):
            if sibling != EMPTY:
                bitmap[i >> 3] |= 0x80 >> (i & 7)
        kind = _ENDS_EMPTY if self.leaf is None else _ENDS_IN_LEAF
        parts = [bytes([kind]), self.depth.to_bytes(2, "big"), bytes(bitmap)]
        parts += [s for s in self.siblings if s != EMPTY]
        if self.leaf is not None:
            parts += [self.leaf.key, self.leaf.value]
        return b"".join(parts)


def decode_proof(data: bytes) -> Proof:
    """The proof these bytes encode; ``ValueError`` unless they are exactly one proof."""
    if not isinstance(data, bytes | bytearray) or len(data) < 3:
        raise ValueError("a proof has at least 3 bytes")
    kind, depth = data[0], int.from_bytes(data[1:3], "big")
    if kind not in (_ENDS_EMPTY, _ENDS_IN_LEAF) or depth > KEY_BITS:
        raise ValueError("unknown proof kind or depth past the last bit")
    at = 3 + -(-depth // 8)
    if len(data) < at:
        raise ValueError("the proof ends inside its bitmap")
    bitmap = data[3:at]
    if depth % 8 and bitmap and bitmap[-1] & (0xFF >> (depth % 8)):
        raise ValueError("the bitmap has bits set past the depth")
    present = [i for i in range(depth) if bitmap[i >> 3] & (0x80 >> (i & 7))]
    leaf_size = 2 * HASH_SIZE if kind == _ENDS_IN_LEAF else 0
    if len(data) != at + HASH_SIZE * len(present) + leaf_size:
        raise ValueError("the proof's length does not match its bitmap and kind")
    siblings = [EMPTY] * depth
    for i in present:
        siblings[i] = bytes(data[at : at + HASH_SIZE])
        if siblings[i] == EMPTY:
            raise ValueError("an empty sibling is marked present")
        at += HASH_SIZE
    leaf = None
    if kind == _ENDS_IN_LEAF:
        leaf = Leaf(bytes(data[at : at + HASH_SIZE]), bytes(data[at + HASH_SIZE :]))
    return Proof(tuple(siblings), leaf)


def verify_inclusion(root: bytes, key: bytes, value: bytes, proof: Proof | bytes) -> bool:
    """Whether *proof* shows the map of *root* holds value hash *value* at *key*."""
    path = _checked_path(root, key, proof)
    return path is not None and path.leaf == Leaf(key, value) and _is_hash(value)


def verify_non_inclusion(root: bytes, key: bytes, proof: Proof | bytes) -> bool:
    """Whether *proof* shows the map of *root* holds nothing at *key*."""
    path = _checked_path(root, key, proof)
    return path is not None and (path.leaf is None or path.leaf.key != key)


def verify_complete(
    root: bytes,
    key: bytes,
    entries: Sequence[tuple[int, bytes]],
    proof: Proof | bytes,
    *,
    size: int | None = None,
) -> bool:
    """Whether *entries* ((index, log leaf hash), in log order) are every entry of the subject
    of *key* that the map of *root* commits to; with *size*, also that each is below it (the
    checkpoint's size). Each entry's own inclusion in the log is a separate RFC 9162 proof."""
    if not _is_entry_list(entries, size):
        return False
    if not entries:
        return verify_non_inclusion(root, key, proof)
    return verify_inclusion(root, key, value_of(entries).hash, proof)


def _is_entry_list(entries: object, size: object) -> bool:
    """A sequence of (index, 32-byte hash) pairs, indexes strictly increasing (below *size*)."""
    if not isinstance(entries, list | tuple) or not (size is None or _is_count(size)):
        return False
    last = -1
    for entry in entries:
        if not (isinstance(entry, tuple) and len(entry) == 2):
            return False
        index, leaf = entry
        if not (_is_count(index) and index > last and _is_hash(leaf)):
            return False
        if size is not None and index >= size:
            return False
        last = index
    return True


def _checked_path(root: bytes, key: bytes, proof: object) -> Proof | None:
    """Steps 1, 2 and 4 of the module docstring: the decoded proof if it is canonical for *key*
    and folds to *root*, else ``None``."""
    if not (_is_hash(root) and _is_hash(key)):
        return None
    if isinstance(proof, bytes | bytearray):
        try:
            proof = decode_proof(bytes(proof))
        except ValueError:
            return None
    if not isinstance(proof, Proof):
        return None
    depth = proof.depth
    if depth and proof.siblings[-1] == EMPTY:
        return None
    if proof.leaf is not None and prefix_of(proof.leaf.key, depth) != prefix_of(key, depth):
        return None
    value = EMPTY if proof.leaf is None else leaf_hash(*proof.leaf)
    for i in range(depth - 1, -1, -1):
        sibling = proof.siblings[i]
        value = node_hash(sibling, value) if key_bit(key, i) else node_hash(value, sibling)
    return proof if value == root else None


def _build(
    leaves: list[Leaf], lo: int, hi: int, depth: int, prefix: bytes, put: NodeWriter
) -> bytes:
    if lo == hi:
        return EMPTY
    if hi - lo == 1:
        node = Node(leaf_hash(*leaves[lo]), leaves[lo])
        put(depth, prefix, node)
        return node.hash
    if depth >= KEY_BITS:
        raise ValueError("two leaves with one key")
    mid = bisect_left(leaves, _right_start(prefix, depth), lo, hi, key=_key)
    left = _build(leaves, lo, mid, depth + 1, child_prefix(prefix, depth, 0), put)
    right = _build(leaves, mid, hi, depth + 1, child_prefix(prefix, depth, 1), put)
    node = Node(node_hash(left, right), None, (left, right))
    put(depth, prefix, node)
    return node.hash


def _update(
    get: NodeReader,
    put: NodeWriter,
    leaves: list[Leaf],
    lo: int,
    hi: int,
    depth: int,
    prefix: bytes,
) -> bytes:
    """The new hash at (*depth*, *prefix*), where the changed leaves [lo, hi) go."""
    node = get(depth, prefix)
    if node is None or node.leaf is not None:
        # An empty subtree or one leaf: rebuild it with the changed leaves (the old leaf, unless
        # it is one of them, moves down to where it is alone again).
        here = leaves[lo:hi]
        old = None if node is None else node.leaf
        if old is not None and all(leaf.key != old.key for leaf in here):
            insort(here, old, key=_key)
        return _build(here, 0, len(here), depth, prefix, put)
    sides = list(_children(node, depth))
    mid = bisect_left(leaves, _right_start(prefix, depth), lo, hi, key=_key)
    for bit, (start, end) in enumerate(((lo, mid), (mid, hi))):
        if start < end:
            child = child_prefix(prefix, depth, bit)
            sides[bit] = _update(get, put, leaves, start, end, depth + 1, child)
    changed = Node(node_hash(sides[0], sides[1]), None, (sides[0], sides[1]))
    put(depth, prefix, changed)
    return changed.hash


def _children(node: Node, depth: int) -> tuple[bytes, bytes]:
    if node.children is None or depth >= KEY_BITS:
        raise ValueError(f"the stored map has a malformed inner node at depth {depth}")
    return node.children


def _right_start(prefix: bytes, depth: int) -> bytes:
    """The smallest key under (*depth*, *prefix*) whose bit *depth* is 1."""
    start = bytearray(HASH_SIZE)
    start[: len(prefix)] = prefix
    start[depth >> 3] |= 0x80 >> (depth & 7)
    return bytes(start)


def _sorted_leaves(leaves: Iterable[Leaf]) -> list[Leaf]:
    ordered = sorted(leaves, key=_key)
    for leaf in ordered:
        if not (_is_hash(leaf.key) and _is_hash(leaf.value)):
            raise ValueError("a leaf is a 32-byte key and a 32-byte value hash")
    for before, after in pairwise(ordered):
        if before.key == after.key:
            raise ValueError("a key appears twice")
    return ordered


def _discard(_depth: int, _prefix: bytes, _node: Node) -> None:
    return None


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE
