"""The Merkle log's pure core (RFC 9162): the shared vectors, proofs against a reference built
from the leaves, tampering, and proofs that read O(log n) stored nodes at ten million leaves."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.audit import merkle
from exchange.audit.merkle import Span, Subtree
from exchange.client import sdk


@pytest.fixture(autouse=True)
def _sha256_tree() -> None:
    """RFC 9162's tree is SHA-256, and so are its vectors: the tree's code, which is the same
    under every profile, is checked here under SHA-256 whatever the suite's profile (the SM3
    tree of gm: tests/security/gm/test_audit_gm.py)."""
    merkle.use_profile("intl")


# transparency-dev/merkle's vectors, vendored with their licence notice (tests/data/README.md).
VECTORS = Path(__file__).resolve().parents[1] / "data" / "rfc9162-vectors"

# The leaves of the RFC 6962 test tree the shared vectors are built over, and its roots.
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
RFC6962_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

MAX_SIZE = 300
LEAVES = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(MAX_SIZE + 1)]


# --- a reference: RFC 9162 §2.1.3.1 and §2.1.4.1 as written, over leaf ranges ---------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_path(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """PATH(m, D[lo:hi]) as the ranges whose MTH make up the proof."""
    if hi - lo == 1:
        return []
    k = _k(hi - lo)
    if m < k:
        return [*ref_path(m, lo, lo + k), (lo + k, hi)]
    return [*ref_path(m - k, lo + k, hi), (lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, whole: bool) -> list[tuple[int, int]]:
    """SUBPROOF(m, D[lo:hi], b) as ranges."""
    if m == hi - lo:
        return [] if whole else [(lo, hi)]
    k = _k(hi - lo)
    if m <= k:
        return [*ref_subproof(m, lo, lo + k, whole), (lo + k, hi)]
    return [*ref_subproof(m - k, lo + k, hi, False), (lo, lo + k)]


def covers(node: merkle.Node) -> tuple[int, int]:
    if isinstance(node, Subtree):
        return node.index << node.level, (node.index + 1) << node.level
    return node.start, node.end


@cache
def mth(start: int, end: int) -> bytes:
    return merkle.root(LEAVES[start:end])


class Store:
    """The storage's view: the complete subtrees written by appending leaf after leaf with
    :func:`merkle.completed_nodes`; ``get`` refuses a node not complete at ``size``."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        for n, leaf in enumerate(leaves):
            for level, index in merkle.completed_nodes(n):
                self.nodes[(level, index)] = (
                    leaf
                    if level == 0
                    else merkle.node_hash(
                        self.nodes[(level - 1, 2 * index)], self.nodes[(level - 1, 2 * index + 1)]
                    )
                )
        self.size = len(leaves)
        self.reads = 0

    def at(self, size: int) -> Callable[[int, int], bytes]:
        def get(level: int, index: int) -> bytes:
            assert (index + 1) << level <= size, "read a subtree that is not complete yet"
            self.reads += 1
            return self.nodes[(level, index)]

        return get


STORE = Store(LEAVES[:MAX_SIZE])


def flip(data: bytes, bit: int) -> bytes:
    return bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(data))


# --- hashing and the RFC 6962 test tree --------------------------------------------------------


def test_hashes_have_the_rfc9162_prefixes() -> None:
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()
    assert merkle.root([]) == merkle.EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_roots_of_the_rfc6962_test_tree() -> None:
    leaves = [merkle.leaf_hash(d) for d in RFC6962_LEAVES]
    store = Store(leaves)
    for size, want in enumerate(RFC6962_ROOTS):
        assert merkle.root(leaves[:size]).hex() == want
        assert merkle.root_from(size, store.at(size)).hex() == want


def test_combine_hashes_right_to_left() -> None:
    a, b, c = LEAVES[:3]
    assert merkle.combine([a]) == a
    assert merkle.combine([a, b, c]) == merkle.node_hash(a, merkle.node_hash(b, c))
    with pytest.raises(ValueError, match="nothing"):
        merkle.combine([])


def test_span_subtrees_follow_the_rfc_split() -> None:
    assert merkle.span_subtrees(0, 7) == [Subtree(2, 0), Subtree(1, 2), Subtree(0, 6)]
    assert merkle.span_subtrees(8, 13) == [Subtree(2, 2), Subtree(0, 12)]
    assert merkle.span_subtrees(16, 32) == [Subtree(4, 1)]
    for bad in ((3, 7), (5, 5), (-1, 3)):
        with pytest.raises(ValueError, match="span"):
            merkle.span_subtrees(*bad)


def test_every_span_of_a_tree_hashes_to_its_mth() -> None:
    for end in range(1, 70):
        for start in range(end):
            try:
                subtrees = merkle.span_subtrees(start, end)
            except ValueError:
                continue
            assert merkle.combine([STORE.nodes[s] for s in subtrees]) == mth(start, end)


def test_completed_nodes_are_the_subtrees_the_leaf_completes() -> None:
    assert merkle.completed_nodes(0) == [(0, 0)]
    assert merkle.completed_nodes(6) == [(0, 6)]
    assert merkle.completed_nodes(7) == [(0, 7), (1, 3), (2, 1), (3, 0)]
    written: set[tuple[int, int]] = set()
    for n in range(MAX_SIZE):
        written.update(merkle.completed_nodes(n))
        complete = {
            (level, index)
            for level in range(10)
            for index in range(n + 1)
            if (index + 1) << level <= n + 1
        }
        assert written == complete
    for (level, index), value in STORE.nodes.items():
        assert value == mth(index << level, (index + 1) << level)
    with pytest.raises(ValueError, match="negative"):
        merkle.completed_nodes(-1)


# --- the shared RFC 9162 vectors -------------------------------------------------------------


def _vector_files(kind: str) -> list[Path]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert files, f"the vendored RFC 9162 vectors are missing from {VECTORS}"
    return files


def _id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def _load(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return vector


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def _proof(vector: dict[str, Any]) -> list[bytes]:
    return [_b(p) for p in vector["proof"] or []]


@pytest.mark.parametrize("path", _vector_files("inclusion"), ids=_id)
def test_inclusion_vector(path: Path) -> None:
    v = _load(path)
    ok = merkle.verify_inclusion(
        _b(v["leafHash"]), v["leafIdx"], v["treeSize"], _proof(v), _b(v["root"])
    )
    assert ok is not v["wantErr"], v["desc"]


@pytest.mark.parametrize("path", _vector_files("consistency"), ids=_id)
def test_consistency_vector(path: Path) -> None:
    v = _load(path)
    ok = merkle.verify_consistency(
        v["size1"], v["size2"], _proof(v), _b(v["root1"]), _b(v["root2"])
    )
    assert ok is not v["wantErr"], v["desc"]


def test_our_proofs_are_the_vectors_happy_paths() -> None:
    """The proofs we read from stored nodes are byte for byte the published ones."""
    happy = sorted(VECTORS.rglob("happy-path.json"))
    store = Store([merkle.leaf_hash(d) for d in RFC6962_LEAVES])
    assert len(happy) == 10
    for path in happy:
        v = _load(path)
        if "leafIdx" in v:
            got = merkle.inclusion_proof(v["leafIdx"], v["treeSize"], store.at(v["treeSize"]))
        else:
            got = merkle.consistency_proof(v["size1"], v["size2"], store.at(v["size2"]))
        assert got == _proof(v), _id(path)


# --- properties against the reference, sizes up to 300 ---------------------------------------

sizes = st.integers(1, MAX_SIZE)


@st.composite
def positions(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return draw(st.integers(0, size - 1)), size


@st.composite
def extensions(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(sizes)
    return draw(st.integers(1, new)), new


@settings(max_examples=400, deadline=None)
@given(positions())
def test_inclusion_proofs_are_the_rfc_proofs_and_verify(position: tuple[int, int]) -> None:
    index, size = position
    path = merkle.inclusion_path(index, size)
    assert [covers(node) for node in path] == ref_path(index, 0, size)
    proof = merkle.inclusion_proof(index, size, STORE.at(size))
    assert proof == [mth(*r) for r in ref_path(index, 0, size)]
    assert merkle.root_from(size, STORE.at(size)) == mth(0, size)
    assert merkle.verify_inclusion(LEAVES[index], index, size, proof, mth(0, size))


@settings(max_examples=300, deadline=None)
@given(positions(), st.data())
def test_any_bit_flip_breaks_an_inclusion_proof(
    position: tuple[int, int], data: st.DataObject
) -> None:
    index, size = position
    proof = merkle.inclusion_proof(index, size, STORE.at(size))
    root = mth(0, size)
    bit = data.draw(st.integers(0, 255))
    leaf = LEAVES[index]
    assert not merkle.verify_inclusion(flip(leaf, bit), index, size, proof, root)
    assert not merkle.verify_inclusion(leaf, index, size, proof, flip(root, bit))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:at], flip(proof[at], bit), *proof[at + 1 :]]
        assert not merkle.verify_inclusion(leaf, index, size, bad, root)
        assert not merkle.verify_inclusion(leaf, index, size, proof[:-1], root)
    assert not merkle.verify_inclusion(leaf, index, size, [*proof, LEAVES[0]], root)


@settings(max_examples=300, deadline=None)
@given(positions(), st.data())
def test_a_wrong_index_or_size_breaks_an_inclusion_proof(
    position: tuple[int, int], data: st.DataObject
) -> None:
    index, size = position
    proof = merkle.inclusion_proof(index, size, STORE.at(size))
    leaf = LEAVES[index]
    other = data.draw(st.integers(0, MAX_SIZE).filter(lambda i: i != index))
    assert not merkle.verify_inclusion(leaf, other, size, proof, mth(0, size))
    # Another size, with the root of that tree: the proof is bound to its own tree.
    wrong = data.draw(st.integers(0, MAX_SIZE).filter(lambda n: n != size))
    assert not merkle.verify_inclusion(leaf, index, wrong, proof, mth(0, wrong))


@settings(max_examples=400, deadline=None)
@given(extensions())
def test_consistency_proofs_are_the_rfc_proofs_and_verify(sizes_: tuple[int, int]) -> None:
    old, new = sizes_
    path = merkle.consistency_path(old, new)
    assert [covers(node) for node in path] == ref_subproof(old, 0, new, True)
    proof = merkle.consistency_proof(old, new, STORE.at(new))
    assert proof == [mth(*r) for r in ref_subproof(old, 0, new, True)]
    assert merkle.verify_consistency(old, new, proof, mth(0, old), mth(0, new))


@settings(max_examples=300, deadline=None)
@given(extensions(), st.data())
def test_tampering_breaks_a_consistency_proof(sizes_: tuple[int, int], data: st.DataObject) -> None:
    old, new = sizes_
    proof = merkle.consistency_proof(old, new, STORE.at(new))
    r1, r2 = mth(0, old), mth(0, new)
    bit = data.draw(st.integers(0, 255))
    assert not merkle.verify_consistency(old, new, proof, flip(r1, bit), r2)
    assert not merkle.verify_consistency(old, new, proof, r1, flip(r2, bit))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:at], flip(proof[at], bit), *proof[at + 1 :]]
        assert not merkle.verify_consistency(old, new, bad, r1, r2)
        assert not merkle.verify_consistency(old, new, proof[:-1], r1, r2)
        assert not merkle.verify_consistency(old, new, proof, r2, r1)
    assert not merkle.verify_consistency(old, new, [*proof, LEAVES[0]], r1, r2)


@settings(max_examples=300, deadline=None)
@given(extensions(), st.data())
def test_wrong_sizes_break_a_consistency_proof(
    sizes_: tuple[int, int], data: st.DataObject
) -> None:
    old, new = sizes_
    proof = merkle.consistency_proof(old, new, STORE.at(new))
    r1, r2 = mth(0, old), mth(0, new)
    old2 = data.draw(st.integers(0, MAX_SIZE).filter(lambda n: n != old))
    new2 = data.draw(st.integers(0, MAX_SIZE).filter(lambda n: n != new))
    for s1, s2 in ((old2, new), (old, new2)):
        assert not merkle.verify_consistency(s1, s2, proof, mth(0, s1), mth(0, s2))
    # The proof commits to the old size: against the same roots, another one fails. It does
    # not commit to the new size (from size 1, sizes 129 and 130 take the same hashing steps):
    # the signed checkpoint binds that size to its root.
    assert not merkle.verify_consistency(old2, new, proof, r1, r2)


def test_consistency_of_equal_sizes_is_the_empty_proof() -> None:
    assert merkle.consistency_path(5, 5) == []
    assert merkle.verify_consistency(5, 5, [], mth(0, 5), mth(0, 5))
    assert not merkle.verify_consistency(5, 5, [mth(0, 5)], mth(0, 5), mth(0, 5))
    assert not merkle.verify_consistency(0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)


def test_paths_refuse_what_is_not_in_the_tree() -> None:
    for index, size in ((0, 0), (5, 5), (-1, 3)):
        with pytest.raises(ValueError, match="not in the tree"):
            merkle.inclusion_path(index, size)
    for old, new in ((0, 3), (4, 3), (-1, 2)):
        with pytest.raises(ValueError, match="0 < old <= new"):
            merkle.consistency_path(old, new)
    with pytest.raises(ValueError, match="negative"):
        merkle.root_from(-1, STORE.at(0))


@pytest.mark.parametrize(
    "args",
    [
        ("leaf", 0, 1, [], b"r" * 32),
        (LEAVES[0], True, 2, [LEAVES[1]], mth(0, 2)),
        (LEAVES[0], 0, 2.0, [LEAVES[1]], mth(0, 2)),
        (LEAVES[0], 0, 2, [LEAVES[1].hex()], mth(0, 2)),
        (LEAVES[0], 0, 2, LEAVES[1], mth(0, 2)),
        (LEAVES[0], 0, 2, [LEAVES[1]], None),
        (LEAVES[0], 0, 2, None, mth(0, 2)),
        (LEAVES[0][:31], 0, 1, [], LEAVES[0][:31]),
    ],
)
def test_inclusion_verifier_returns_false_on_garbage(args: tuple[Any, ...]) -> None:
    assert merkle.verify_inclusion(*args) is False


@pytest.mark.parametrize(
    "args",
    [
        (1, 2, "proof", mth(0, 1), mth(0, 2)),
        (1, 2, [LEAVES[1]], mth(0, 1).hex(), mth(0, 2)),
        (1, None, [LEAVES[1]], mth(0, 1), mth(0, 2)),
        (1, 2, [LEAVES[1][:31]], mth(0, 1), mth(0, 2)),
        (1, 2, b"", mth(0, 1), mth(0, 2)),
        (-1, 2, [LEAVES[1]], mth(0, 1), mth(0, 2)),
    ],
)
def test_consistency_verifier_returns_false_on_garbage(args: tuple[Any, ...]) -> None:
    assert merkle.verify_consistency(*args) is False


# --- proofs read O(log n) stored nodes, at up to ten million leaves ---------------------------

BIG = (10**4, 10**6, 10**7)


class Counting:
    """A fake store: a node's hash is H(level ‖ index); counts reads, refuses incomplete nodes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.reads = 0

    def get(self, level: int, index: int) -> bytes:
        assert level >= 0
        assert index >= 0
        assert (index + 1) << level <= self.size, "read a subtree that is not complete yet"
        self.reads += 1
        return hashlib.sha256(level.to_bytes(1, "big") + index.to_bytes(8, "big")).digest()


def _bound(size: int) -> float:
    return 2 * math.log2(size) + 2


def _edge_cases(size: int) -> set[int]:
    powers = {1 << k for k in range(size.bit_length())}
    return {i for p in powers for i in (p - 1, p, p + 1) if 0 <= i < size} | {0, size - 1}


@pytest.mark.parametrize("size", BIG)
def test_big_inclusion_proofs_read_few_nodes(size: int) -> None:
    for index in sorted(_edge_cases(size) | {size // 2, size // 3}):
        store = Counting(size)
        proof = merkle.inclusion_proof(index, size, store.get)
        path = merkle.inclusion_path(index, size)
        assert [covers(node) for node in path] == ref_path(index, 0, size)
        assert len(proof) == len(path)
        assert store.reads <= _bound(size), (index, store.reads)


@pytest.mark.parametrize("size", BIG)
def test_big_consistency_proofs_read_few_nodes(size: int) -> None:
    for old in sorted(_edge_cases(size) - {0} | {size // 2, size // 3, size}):
        store = Counting(size)
        proof = merkle.consistency_proof(old, size, store.get)
        path = merkle.consistency_path(old, size)
        assert [covers(node) for node in path] == ref_subproof(old, 0, size, True)
        assert len(proof) == len(path)
        assert store.reads <= _bound(size), (old, store.reads)


@pytest.mark.parametrize("size", BIG)
def test_big_roots_read_one_node_per_set_bit(size: int) -> None:
    store = Counting(size)
    merkle.root_from(size, store.get)
    assert store.reads == bin(size).count("1")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(BIG), st.data())
def test_big_proofs_read_few_nodes_anywhere(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    store = Counting(size)
    merkle.inclusion_proof(index, size, store.get)
    assert store.reads <= _bound(size)
    old = data.draw(st.integers(1, size))
    new = data.draw(st.integers(old, size))
    store = Counting(new)
    merkle.consistency_proof(old, new, store.get)
    assert store.reads <= _bound(new)
    # At most one proof node is a span (the right edge); all others are single stored nodes.
    assert sum(isinstance(n, Span) for n in merkle.inclusion_path(index, size)) <= 1
    assert sum(isinstance(n, Span) for n in merkle.consistency_path(old, new)) <= 1


@cache
def _uniform(level: int) -> bytes:
    """The hash of a complete subtree of a tree whose leaves are all the same."""
    if level == 0:
        return merkle.leaf_hash(b"")
    return merkle.node_hash(_uniform(level - 1), _uniform(level - 1))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(BIG), st.data())
def test_big_proofs_verify_over_a_consistent_store(size: int, data: st.DataObject) -> None:
    """With every leaf the same, stored hashes are cheap and consistent at any size, so a
    proof read at ten million leaves can be checked by the verifier against ``root_from``."""

    def get(level: int, index: int) -> bytes:
        return _uniform(level)

    index = data.draw(st.integers(0, size - 1))
    root = merkle.root_from(size, get)
    proof = merkle.inclusion_proof(index, size, get)
    assert merkle.verify_inclusion(_uniform(0), index, size, proof, root)
    old = data.draw(st.integers(1, size))
    proof = merkle.consistency_proof(old, size, get)
    assert merkle.verify_consistency(old, size, proof, merkle.root_from(old, get), root)


@pytest.mark.parametrize("path", _vector_files("inclusion"), ids=_id)
def test_the_sdk_checks_inclusion_as_the_vectors_say(path: Path) -> None:
    """The client SDK's own RFC 9162 verifier (it imports nothing of the hub) agrees."""
    v = _load(path)
    ok = sdk._included(_b(v["leafHash"]), v["leafIdx"], v["treeSize"], _proof(v), _b(v["root"]))
    assert ok is not v["wantErr"], v["desc"]


@pytest.mark.parametrize("path", _vector_files("consistency"), ids=_id)
def test_the_sdk_checks_consistency_as_the_vectors_say(path: Path) -> None:
    v = _load(path)
    ok = sdk._consistent(v["size1"], v["size2"], _proof(v), _b(v["root1"]), _b(v["root2"]))
    assert ok is not v["wantErr"], v["desc"]
