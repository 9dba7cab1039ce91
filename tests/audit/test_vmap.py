"""The subject map: its byte layouts, its proofs (inclusion, non-inclusion, complete lists) against
a map rebuilt from scratch, tampering, and its storage, versioned by log size, on SQLite (property
tests), PostgreSQL and MariaDB."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from exchange.audit import merkle, vmap, vmap_store
from exchange.audit.models import AuditMapNode
from exchange.audit.vmap import EMPTY, Leaf, Node, Proof
from exchange.db import make_engine
from tests.conftest import MARIADB_ENV, POSTGRES_ENV, throwaway_database
from tests.profiles import TREE_HASH, only_under

MIGRATION = importlib.import_module("exchange.migrations.versions.0012_subject_map")


def pseudonym(n: int) -> str:
    """Subject *n*'s pseudonym: 64 hex digits, as the audit entries carry it."""
    return hashlib.sha256(f"subject-{n}".encode()).hexdigest()


def log_leaf(index: int) -> bytes:
    """The log's leaf hash of entry *index*."""
    return merkle.leaf_hash(f"entry-{index}".encode())


def sha(*parts: bytes) -> bytes:
    """The map's hash under the suite's profile (SHA-256, or SM3 under ``gm``), computed by
    ``hashlib`` rather than the hub."""
    return hashlib.new(TREE_HASH, b"".join(parts)).digest()


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


class Log:
    """A reference log: entry *i* is about subject ``subjects[i]``; the map at a size rebuilt
    from scratch."""

    def __init__(self, subjects: Sequence[int]) -> None:
        self.subjects = list(subjects)

    def entries(self, subject: int, size: int) -> list[tuple[int, bytes]]:
        return [(i, log_leaf(i)) for i, s in enumerate(self.subjects[:size]) if s == subject]

    def leaves(self, size: int) -> list[Leaf]:
        return [
            Leaf(vmap.subject_key(pseudonym(s)), vmap.value_of(self.entries(s, size)).hash)
            for s in set(self.subjects[:size])
        ]

    def root(self, size: int) -> bytes:
        return vmap.root(self.leaves(size))

    def nodes(self, size: int) -> dict[tuple[int, bytes], Node]:
        found: dict[tuple[int, bytes], Node] = {}
        vmap.build(self.leaves(size), lambda d, p, n: found.__setitem__((d, p), n))
        return found

    def updates(self, start: int, end: int) -> list[tuple[str, int, bytes]]:
        return [(pseudonym(self.subjects[i]), i, log_leaf(i)) for i in range(start, end)]


class Memory:
    """Nodes in a dict, for the pure update and proof functions."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, bytes], Node] = {}

    def get(self, depth: int, prefix: bytes) -> Node | None:
        return self.nodes.get((depth, prefix))

    def put(self, depth: int, prefix: bytes, node: Node) -> None:
        self.nodes[(depth, prefix)] = node


def flip_bit(key: bytes, bit: int) -> bytes:
    return bytes(b ^ (0x80 >> (bit % 8)) if i == bit // 8 else b for i, b in enumerate(key))


def changed_bytes(data: bytes) -> Iterator[bytes]:
    """*data* with one byte changed (three ways per byte), cut short, or made longer."""
    for i in range(len(data)):
        for delta in (0x01, 0x80, 0xFF):
            yield data[:i] + bytes([data[i] ^ delta]) + data[i + 1 :]
    yield data[:-1]
    yield data + b"\x00"


HASHES = st.binary(min_size=32, max_size=32)


@st.composite
def key_sets(draw: st.DrawFn) -> tuple[list[bytes], list[bytes]]:
    """Keys in the map and keys not in it, many sharing long prefixes (down to all 255 first
    bits), so that paths are deep and have empty siblings."""
    base = draw(HASHES)
    keys = {base}
    for bit in draw(st.lists(st.integers(0, 255), max_size=10)):
        keys.add(flip_bit(draw(st.sampled_from(sorted(keys))), bit))
    keys.update(draw(st.lists(HASHES, max_size=8)))
    absent = {flip_bit(k, b) for k in keys for b in (draw(st.integers(0, 255)), 255)}
    absent.update(draw(st.lists(HASHES, max_size=4)))
    return sorted(keys), sorted(absent - keys)


def map_of(keys: Sequence[bytes]) -> tuple[dict[bytes, bytes], Memory, bytes]:
    values = {key: sha(b"value", key) for key in keys}
    memory = Memory()
    return values, memory, vmap.update(memory.get, values, memory.put)


# --- byte layouts ------------------------------------------------------------------------------


def test_the_byte_layouts_are_the_documented_ones() -> None:
    assert vmap.subject_key("ab") == sha(b"tongban/vmap/v1 key\n", b"ab")
    k, v, left, right = (bytes([n]) * 32 for n in (1, 2, 3, 4))
    assert vmap.leaf_hash(k, v) == sha(b"\x00", k, v)
    assert vmap.node_hash(left, right) == sha(b"\x01", left, right)
    one = sha(b"\x02", EMPTY, u64(7), log_leaf(7))
    two = sha(b"\x02", one, u64(300), log_leaf(300))
    assert vmap.value_of([(7, log_leaf(7)), (300, log_leaf(300))]).hash == sha(b"\x03", u64(2), two)
    assert vmap.root([]) == EMPTY == bytes(32)
    assert vmap.root([Leaf(k, v)]) == vmap.leaf_hash(k, v)  # one key: the leaf is the root
    a = bytes([0b0001_0000]) + bytes(31)  # a and b share their first three bits (000), then part
    b = bytes([0b0000_0000]) + bytes(31)
    la, lb = vmap.leaf_hash(a, v), vmap.leaf_hash(b, v)
    lowest = vmap.node_hash(lb, la)
    want = vmap.node_hash(vmap.node_hash(vmap.node_hash(lowest, EMPTY), EMPTY), EMPTY)
    assert vmap.root([Leaf(a, v), Leaf(b, v)]) == want
    proof = vmap.prove(map_of_leaves([Leaf(a, v), Leaf(b, v)]).get, a)
    assert proof == Proof((EMPTY, EMPTY, EMPTY, lb), Leaf(a, v))
    assert proof.encode() == b"\x01\x00\x04\x10" + lb + a + v
    assert Proof((), None).encode() == b"\x00\x00\x00"


def map_of_leaves(leaves: Sequence[Leaf]) -> Memory:
    memory = Memory()
    vmap.build(leaves, memory.put)
    return memory


# Ten log entries about five subjects (entry i is b"entry-<i>", subject n's pseudonym the hex
# SHA-256 of b"subject-<n>"): the root and three proofs, for an independent implementation to
# reproduce (the console's JavaScript, later). Subject 5's path ends in subject 1's leaf,
# subject 7's in an empty subtree.
VECTOR_SUBJECTS = [0, 1, 0, 2, 3, 0, 1, 4, 2, 0]
VECTOR = {
    "root": "5d49e1c1a92ff1a69ec94f36902d67e29bf452c9b38d1a564be1390667f836b6",
    0: "010004d061d9e038a678057fd5779718ffc597783efa7b023457e108a5112c475e2ed163d82edf1a3327797e"
    "3b74a3532c5fe3d770f1633a8dc24be0d72821c939e83af4ee86a828959a98b291615cb31c60a9bb5933a09727"
    "4047a290eebcc0ef6d0c293f8c63f685ea21fb2b293206c1ff3bc7ff57db50dd29eea05eb1b995a19d5c30c978"
    "b763e8c732e5e7d30440512716b6f443c66f378d71a0d6e355efef7a1ccd",
    5: "01000180cba66a06342c6d012f251d9201bfed28d37a39c92281fa29728f7349c1f12d1fced7bfd79c65d35bf6"
    "bd9fe5fc20e678130bc49e9414a2fce3511f60b1f05b7fa4430d47015d152d0d63b0d4001a88cfa04c2c374ba8"
    "dc7aaf53dca602568501",
    7: "000003e061d9e038a678057fd5779718ffc597783efa7b023457e108a5112c475e2ed163fa1a1b9adb4c0cd22d"
    "7642a7317ce47027581d54b52a1785732c359eb1645e5e825a80fd89e93dee22aeb705296bdceb1b99e0d9a780"
    "26adcce3759d838af477",
}


@only_under("intl", "the pinned root and proofs are SHA-256 values (gm: test_vmap_gm.py)")
def test_a_small_map_gives_the_pinned_root_and_proofs() -> None:
    log = Log(VECTOR_SUBJECTS)
    memory = map_of_leaves(log.leaves(10))
    root = bytes.fromhex(str(VECTOR["root"]))
    assert log.root(10) == root
    for subject in (0, 5, 7):
        key = vmap.subject_key(pseudonym(subject))
        assert vmap.prove(memory.get, key).encode().hex() == VECTOR[subject]
        proof = bytes.fromhex(VECTOR[subject])
        assert vmap.verify_complete(root, key, log.entries(subject, 10), proof, size=10)


# --- proofs, pure ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(key_sets())
def test_every_key_proves_its_value_and_every_other_key_its_absence(
    sets: tuple[list[bytes], list[bytes]],
) -> None:
    keys, absent = sets
    values, memory, root = map_of(keys)
    assert root == vmap.root(Leaf(k, v) for k, v in values.items())
    for key in keys:
        proof = vmap.prove(memory.get, key)
        assert vmap.decode_proof(proof.encode()) == proof
        assert vmap.verify_inclusion(root, key, values[key], proof)
        assert vmap.verify_inclusion(root, key, values[key], proof.encode())
        assert not vmap.verify_inclusion(root, key, sha(values[key]), proof)
        assert not vmap.verify_non_inclusion(root, key, proof)
    for key in absent:
        proof = vmap.prove(memory.get, key)
        assert vmap.verify_non_inclusion(root, key, proof.encode())
        assert not vmap.verify_inclusion(root, key, sha(b"value", key), proof)
        if proof.leaf is not None:  # ends in another key's leaf: that key's proof, not ours
            assert vmap.verify_inclusion(root, proof.leaf.key, proof.leaf.value, proof)


@settings(max_examples=15, deadline=None)
@given(key_sets())
def test_every_single_byte_change_of_a_proof_is_refused(
    sets: tuple[list[bytes], list[bytes]],
) -> None:
    keys, absent = sets
    values, memory, root = map_of(keys)
    for key in keys[:3]:
        data = vmap.prove(memory.get, key).encode()
        for bad in changed_bytes(data):
            assert not vmap.verify_inclusion(root, key, values[key], bad)
    for key in absent[:3]:
        data = vmap.prove(memory.get, key).encode()
        for bad in changed_bytes(data):
            assert not vmap.verify_non_inclusion(root, key, bad)


@settings(max_examples=60, deadline=None)
@given(
    subjects=st.lists(st.integers(0, 5), min_size=1, max_size=30),
    which=st.integers(0, 5),
    data=st.data(),
)
def test_a_changed_list_or_root_is_refused(subjects: list[int], which: int, data: Any) -> None:
    log = Log(subjects)
    size = len(subjects)
    memory, root = map_of_leaves(log.leaves(size)), log.root(size)
    key = vmap.subject_key(pseudonym(which))
    entries = log.entries(which, size)
    proof = vmap.prove(memory.get, key).encode()
    assert vmap.verify_complete(root, key, entries, proof, size=size)
    if entries:  # the last one is not below the size of the tree before it
        assert not vmap.verify_complete(root, key, entries, proof, size=entries[-1][0])
    others = [e for e in enumerate(map(log_leaf, range(size + 3))) if e not in entries]
    wrong = [[*entries, others[-1]], [(size + 5, log_leaf(size + 5)), *entries]]
    if entries:
        i = data.draw(st.integers(0, len(entries) - 1))
        index, leaf = entries[i]
        wrong.append(entries[:i] + entries[i + 1 :])  # an entry dropped
        wrong.append([*entries[:i], (index, sha(leaf)), *entries[i + 1 :]])  # another leaf
        wrong.append([*entries[:i], (index + 1, leaf), *entries[i + 1 :]])  # another index
        wrong.append(sorted([*entries, data.draw(st.sampled_from(others))]))  # one added
        if len(entries) > 1:
            wrong.append([entries[-1], *entries[:-1]])  # reordered
    for claimed in wrong:
        assert not vmap.verify_complete(root, key, claimed, proof), claimed
    for bit in range(0, 256, 37):
        assert not vmap.verify_complete(flip_bit(root, bit), key, entries, proof)


def test_malformed_input_is_false_not_an_exception() -> None:
    values, memory, root = map_of([sha(b"a"), sha(b"b"), sha(b"c")])
    key = sha(b"a")
    proof = vmap.prove(memory.get, key)
    good = proof.encode()
    assert vmap.verify_inclusion(root, key, values[key], good)
    junk: list[Any] = [None, "", "00", 0, b"", b"\x02\x00\x00", b"\x00\x01\x01", [good], object()]
    junk += [b"\x00\xff\xff" + bytes(64), b"\x01\x00\x09" + b"\xff\xff" + bytes(500)]
    junk += [b"\x00\x00\x08\x01" + bytes(32)]  # a present sibling of 32 zero bytes
    for bad in junk:
        assert not vmap.verify_inclusion(root, key, values[key], bad)
        assert not vmap.verify_non_inclusion(root, key, bad)
        assert not vmap.verify_complete(root, key, [], bad)
    for bad_root, bad_key, bad_value in (
        (None, key, values[key]),
        (root[:31], key, values[key]),
        (root, "a", values[key]),
        (root, key[:31], values[key]),
        (root, key, None),
        (root, key, values[key][:31]),
    ):
        assert not vmap.verify_inclusion(bad_root, bad_key, bad_value, good)  # type: ignore[arg-type]
    leaf = log_leaf(0)
    for entries in (
        "ab",
        None,
        [(True, leaf)],
        [(-1, leaf)],
        [(0, leaf[:31])],
        [[0, leaf]],
        [(0, leaf, 0)],
        [(1, leaf), (1, leaf)],
        [(2, leaf), (1, leaf)],
    ):
        assert not vmap.verify_complete(root, key, entries, good)  # type: ignore[arg-type]
    assert not vmap.verify_complete(root, key, [], good, size=-1)
    for bad_proof in (b"\x00\x00\x00", Proof((EMPTY,), None)):  # not canonical, or wrong
        assert not vmap.verify_non_inclusion(root, sha(b"z"), bad_proof)
    with pytest.raises(ValueError, match="sibling"):
        Proof((b"short",), None)


def fold(key: bytes, proof: Proof) -> bytes:
    """The root *proof* folds to for *key*, checking nothing (step 4 of vmap's docstring)."""
    value = EMPTY if proof.leaf is None else vmap.leaf_hash(*proof.leaf)
    for i in reversed(range(proof.depth)):
        sibling = proof.siblings[i]
        value = (
            vmap.node_hash(sibling, value)
            if vmap.key_bit(key, i)
            else vmap.node_hash(value, sibling)
        )
    return value


def test_a_path_no_honest_map_has_is_refused_even_when_it_folds_to_the_root() -> None:
    key, value, sibling = sha(b"k"), sha(b"v"), sha(b"s")
    lower = Proof((sibling, EMPTY), Leaf(key, value))  # a leaf below an empty sibling
    assert not vmap.verify_inclusion(fold(key, lower), key, value, lower)
    empty = Proof((sibling, EMPTY), None)  # an empty subtree beside an empty sibling
    assert not vmap.verify_non_inclusion(fold(key, empty), key, empty)
    stranger = flip_bit(key, 0)  # a leaf whose key is not on the path it sits on
    astray = Proof((sibling,), Leaf(stranger, value))
    assert not vmap.verify_non_inclusion(fold(key, astray), key, astray)
    near = flip_bit(key, 1)  # shares the first bit: a proper non-inclusion proof
    fine = Proof((sibling,), Leaf(near, value))
    assert vmap.verify_non_inclusion(fold(key, fine), key, fine)


LEAF = sha(b"k") + sha(b"v")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x01\x00\x02\x40" + bytes(32) + LEAF, "empty sibling is marked present"),
        (b"\x00\x00\x02\xc1" + sha(b"a") + sha(b"b"), "bits set past the depth"),
        (b"\x00\x00\x00\x00", "length does not match"),
        (b"\x01\x00\x00" + LEAF[:63], "length does not match"),
        (b"\x02\x00\x00", "unknown proof kind"),
        (b"\x00\x01\x01", "depth past the last bit"),
        (b"\x00\x00\x09\xff", "ends inside its bitmap"),
    ],
    ids=["zero sibling", "padding", "trailing byte", "short leaf", "kind", "depth", "bitmap"],
)
def test_a_proof_has_one_encoding(data: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        vmap.decode_proof(data)


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=12), min_size=1, max_size=8)
)
def test_updates_in_batches_give_the_tree_built_from_scratch(batches: list[list[int]]) -> None:
    memory, values = Memory(), {}
    for batch in batches:
        changes = {
            vmap.subject_key(pseudonym(s)): sha(bytes(len(values)), bytes([s])) for s in batch
        }
        written: list[tuple[int, bytes]] = []
        root = vmap.update(memory.get, changes, recording(memory, written))
        values.update(changes)
        assert root == vmap.root(Leaf(k, v) for k, v in values.items())
        assert len(written) == len(set(written))  # each changed node once
        assert written[-1] == (0, b"")  # the root last
    scratch = map_of_leaves([Leaf(k, v) for k, v in values.items()])
    assert memory.nodes == scratch.nodes  # no node left stale, none missing


def recording(memory: Memory, written: list[tuple[int, bytes]]) -> vmap.NodeWriter:
    def put(depth: int, prefix: bytes, node: Node) -> None:
        written.append((depth, prefix))
        memory.put(depth, prefix, node)

    return put


# --- storage -----------------------------------------------------------------------------------


def create_tables(engine: Engine) -> None:
    """The subject map's tables, made by migration 0012 itself."""
    with engine.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        MIGRATION.upgrade()


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    """A session in a transaction that is rolled back at the end."""
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("vmap") / "hub.db"
    engine = make_engine(f"sqlite:///{path}")
    create_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def server_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    env = POSTGRES_ENV if request.param == "postgresql" else MARIADB_ENV
    with throwaway_database(env, f"the subject map on {request.param}") as url:
        engine = make_engine(url)
        create_tables(engine)
        yield engine
        engine.dispose()


def replay(session: Session, log: Log, cuts: Sequence[int]) -> list[int]:
    """Apply the log in batches ending at *cuts* (and at its end); each new root is the one
    rebuilt from scratch. The versions, 0 first."""
    versions = [0]
    for end in sorted({c for c in cuts if 0 < c < len(log.subjects)} | {len(log.subjects)}):
        updates = log.updates(versions[-1], end)
        assert vmap_store.apply(session, version=end, updates=updates) == log.root(end)
        versions.append(end)
    return versions


def check_versions(session: Session, log: Log, versions: Sequence[int]) -> None:
    """At every version, the stored root is the log's and every subject (one never seen too)
    gets a proof of its complete list there, which the other versions' roots refuse."""
    roots = {v: vmap_store.root_at(session, v) for v in versions}
    assert vmap_store.latest(session) == (versions[-1], roots[versions[-1]])
    for version in versions:
        assert roots[version] == log.root(version)
        for subject in {*log.subjects, max(log.subjects) + 1}:
            key, entries = vmap.subject_key(pseudonym(subject)), log.entries(subject, version)
            proof = vmap_store.prove(session, pseudonym(subject), version).encode()
            assert vmap.verify_complete(roots[version], key, entries, proof, size=version)
            for other, root in roots.items():
                if root != roots[version]:
                    assert not vmap.verify_complete(root, key, entries, proof), (version, other)
    for subject in set(log.subjects):
        entries = log.entries(subject, versions[-1])
        value = vmap_store.current_value(session, pseudonym(subject))
        assert value == vmap.value_of(entries)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    subjects=st.lists(st.integers(0, 7), min_size=1, max_size=40),
    cuts=st.lists(st.integers(1, 39), max_size=8),
    levels=st.sampled_from([(1, 1), (2, 1), (5, 3), (vmap_store.FIRST_LEVELS, 8)]),
)
def test_stored_roots_and_proofs_match_the_log_at_every_version(
    sqlite_engine: Engine, subjects: list[int], cuts: list[int], levels: tuple[int, int]
) -> None:
    """Whatever the batches and however many levels each read takes."""
    log = Log(subjects)
    with pytest.MonkeyPatch.context() as patch, rolled_back(sqlite_engine) as session:
        patch.setattr(vmap_store, "FIRST_LEVELS", levels[0])
        patch.setattr(vmap_store, "MORE_LEVELS", levels[1])
        check_versions(session, log, replay(session, log, cuts))


def test_every_batch_split_gives_one_root(sqlite_engine: Engine) -> None:
    log = Log([n * 7 % 23 for n in range(60)])
    finals = set()
    for cuts in ([], [1, 2, 3], list(range(1, 60)), [30], [17, 18, 50]):
        with rolled_back(sqlite_engine) as session:
            replay(session, log, cuts)
            finals.add(vmap_store.root_at(session, 60))
    assert finals == {log.root(60)}


def test_a_batch_writes_exactly_the_nodes_it_changed(sqlite_engine: Engine) -> None:
    log = Log([n * n % 97 for n in range(300)])
    with rolled_back(sqlite_engine) as session:
        versions = replay(session, log, [1, 2, 50, 51, 120, 250])
        for before, after in pairwise(versions):
            old, new = log.nodes(before), log.nodes(after)
            assert old.keys() <= new.keys()  # positions only fill
            changed = {pos: node for pos, node in new.items() if old.get(pos) != node}
            rows = session.execute(
                select(
                    AuditMapNode.depth,
                    AuditMapNode.prefix,
                    AuditMapNode.hash,
                    AuditMapNode.leaf_key,
                    AuditMapNode.leaf_value,
                    AuditMapNode.left_hash,
                    AuditMapNode.right_hash,
                ).where(AuditMapNode.version == after)
            ).all()
            written = {
                (d, p): Node(h, None if k is None else Leaf(k, v), None if a is None else (a, b))
                for d, p, h, k, v, a, b in rows
            }
            assert len(rows) == len(written)
            assert written == changed


def test_a_batch_must_be_the_logs_next_entries(sqlite_engine: Engine) -> None:
    log = Log([1, 2, 3, 1, 2, 3])
    with rolled_back(sqlite_engine) as session:
        replay(session, Log(log.subjects[:3]), [])
        for version, updates in (
            (7, log.updates(3, 6)),  # one short
            (6, log.updates(4, 6)),  # a gap
            (6, log.updates(3, 6) + log.updates(5, 6)),  # a duplicate
            (2, []),  # backwards
            (2, log.updates(3, 6)),
        ):
            with pytest.raises(ValueError, match="a batch is the log entries"):
                vmap_store.apply(session, version=version, updates=updates)
        assert vmap_store.latest(session) == (3, log.root(3))
        assert vmap_store.apply(session, version=3, updates=[]) == log.root(3)
        assert vmap_store.apply(session, version=6, updates=log.updates(3, 6)[::-1]) == log.root(6)


def test_a_version_the_map_never_had_is_refused(sqlite_engine: Engine) -> None:
    log = Log([1, 2, 3, 4])
    with rolled_back(sqlite_engine) as session:
        assert vmap_store.root_at(session, 0) == EMPTY
        assert vmap_store.latest(session) == (0, EMPTY)
        replay(session, log, [2])
        assert vmap_store.root_at(session, 0) == EMPTY
        for version in (1, 3, 5):
            with pytest.raises(LookupError, match=f"no state at log size {version}"):
                vmap_store.root_at(session, version)
            with pytest.raises(LookupError, match="no state"):
                vmap_store.prove(session, pseudonym(1), version)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements *engine* runs inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_proof_of_a_thousand_subjects_reads_its_path_in_one_statement(
    sqlite_engine: Engine,
) -> None:
    log = Log(list(range(1000)))
    with rolled_back(sqlite_engine) as session:
        replay(session, log, [500])
        with statements(sqlite_engine) as seen:
            proof = vmap_store.prove(session, pseudonym(7), 1000)
        assert len(seen) == 1
        assert 8 <= proof.depth < vmap_store.FIRST_LEVELS
        assert vmap.verify_complete(
            vmap_store.root_at(session, 1000),
            vmap.subject_key(pseudonym(7)),
            log.entries(7, 1000),
            proof,
        )


def test_the_same_on_a_database_server(
    server_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vmap_store, "FIRST_LEVELS", 2)  # several reads per path
    monkeypatch.setattr(vmap_store, "MORE_LEVELS", 1)
    log = Log([n * 5 % 13 for n in range(40)])
    with rolled_back(server_engine) as session:
        check_versions(session, log, replay(session, log, [1, 9, 10, 25]))
        with pytest.raises(ValueError, match="a batch"):
            vmap_store.apply(session, version=41, updates=log.updates(39, 40))
