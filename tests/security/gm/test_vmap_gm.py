"""The subject map under the gm profile: every hash SM3 (GmSSL's, independent of the hub's),
the empty subtree still 32 zero bytes, proofs that verify under SM3 and not under SHA-256, the
stored map of a gm log and its signed checkpoint line; intl keeps its SHA-256 layouts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from gmssl_pyx import gmsslext
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange.audit import merkle, vmap, vmap_store
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.log import AuditLog
from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from exchange.hub import Hub
from exchange.security.gm import GM, INTL
from exchange.security.secrets import KeySchedule
from exchange.settings import Settings
from tests.audit.test_log_batches import about
from tests.profiles import PROFILE

SECRET = "gm-vmap-test-secret-" + "y" * 24


def _sm3(*parts: bytes) -> bytes:
    digest: bytes = gmsslext.sm3_hash(b"".join(parts))
    return digest


@pytest.fixture
def gm_bound() -> Iterator[None]:
    merkle.use_profile(GM)
    vmap.use_profile(GM)
    try:
        yield
    finally:
        merkle.use_profile(INTL)
        vmap.use_profile(INTL)


def _independent_root(
    leaves: dict[bytes, bytes], hash_: Callable[..., bytes], depth: int = 0
) -> bytes:
    """The documented tree, from scratch: empty 32 zero bytes, one key H(0x00 ‖ k ‖ v), more
    H(0x01 ‖ left ‖ right), split on bit *depth* of the keys."""
    if not leaves:
        return bytes(32)
    if len(leaves) == 1:
        ((key, value),) = leaves.items()
        return hash_(b"\x00", key, value)
    left = {k: v for k, v in leaves.items() if not (k[depth // 8] >> (7 - depth % 8)) & 1}
    right = {k: v for k, v in leaves.items() if k not in left}
    return hash_(
        b"\x01",
        _independent_root(left, hash_, depth + 1),
        _independent_root(right, hash_, depth + 1),
    )


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def test_under_gm_every_layout_is_the_documented_one_with_sm3(gm_bound: None) -> None:
    assert vmap.bound_profile == "gm"
    assert vmap.subject_key("ab") == _sm3(b"tongban/vmap/v1 key\n", b"ab")
    key, value = _sm3(b"k"), _sm3(b"v")
    assert vmap.leaf_hash(key, value) == _sm3(b"\x00", key, value)
    assert vmap.node_hash(key, value) == _sm3(b"\x01", key, value)
    leaf = _sm3(b"\x00", b"entry")
    one = _sm3(b"\x02", bytes(32), _u64(7), leaf)
    assert vmap.chain_hash(bytes(32), 7, leaf) == one
    assert vmap.value_of([(7, leaf)]).hash == _sm3(b"\x03", _u64(1), one)
    assert vmap.root([]) == vmap.EMPTY == bytes(32)


def test_under_gm_proofs_verify_with_sm3_and_not_with_sha256(gm_bound: None) -> None:
    values = {vmap.subject_key(f"{n:064x}"): _sm3(b"value", _u64(n)) for n in range(40)}
    nodes: dict[tuple[int, bytes], vmap.Node] = {}
    root = vmap.build(
        [vmap.Leaf(k, v) for k, v in values.items()],
        lambda d, p, n: nodes.__setitem__((d, p), n),
    )
    assert root == _independent_root(values, _sm3)
    key = next(iter(values))
    proof = vmap.prove(lambda d, p: nodes.get((d, p)), key)
    absent = vmap.subject_key("f" * 64)
    absence = vmap.prove(lambda d, p: nodes.get((d, p)), absent)
    assert vmap.verify_inclusion(root, key, values[key], proof.encode())
    assert vmap.verify_non_inclusion(root, absent, absence.encode())
    vmap.use_profile(INTL)
    assert not vmap.verify_inclusion(root, key, values[key], proof.encode())
    assert not vmap.verify_non_inclusion(root, absent, absence.encode())


def test_intl_keeps_the_sha256_layouts() -> None:
    vmap.use_profile(INTL)
    assert vmap.subject_key("ab") == hashlib.sha256(b"tongban/vmap/v1 key\nab").digest()
    key, value = bytes(range(32)), bytes(32)
    assert vmap.leaf_hash(key, value) == hashlib.sha256(b"\x00" + key + value).digest()


def test_a_gm_hub_binds_the_map_to_sm3(settings: Settings) -> None:
    try:
        Hub(settings.model_copy(update={"crypto_profile": "gm"}))
        assert (merkle.bound_profile, vmap.bound_profile) == ("gm", "gm")
        Hub(settings.model_copy(update={"crypto_profile": "intl"}))
        assert (merkle.bound_profile, vmap.bound_profile) == ("intl", "intl")
    finally:  # the suite's own profile again, for the tests after this one
        merkle.use_profile(PROFILE)
        vmap.use_profile(PROFILE)


def test_a_gm_logs_stored_map_and_checkpoint_line_are_the_sm3_map_of_its_entries(
    gm_bound: None, sessions: sessionmaker[Session]
) -> None:
    log = AuditLog(sessions)
    for n in range(12):
        log.append(about(n % 5))  # five subjects
    with unit_of_work(sessions) as session:
        rows = session.execute(
            select(AuditRecord.entry, AuditRecord.index).order_by(AuditRecord.index)
        ).all()
        version, stored_root = vmap_store.latest(session)
    chains: dict[str, list[tuple[int, bytes]]] = {}
    for text, index in rows:
        leaf = _sm3(b"\x00", text.encode())  # the log's own leaf, SM3 (RFC 9162 shape)
        chains.setdefault(json.loads(text)["subject"], []).append((index, leaf))
    leaves = {}
    for subject, entries in chains.items():
        chain = bytes(32)
        for index, leaf in entries:
            chain = _sm3(b"\x02", chain, _u64(index), leaf)
        key = _sm3(b"tongban/vmap/v1 key\n", subject.encode())
        leaves[key] = _sm3(b"\x03", _u64(len(entries)), chain)
    assert version == len(rows) == 12
    assert stored_root == _independent_root(leaves, _sm3)
    assert stored_root != _independent_root(leaves, lambda *p: hashlib.sha256(b"".join(p)).digest())
    signer = CheckpointSigner(KeySchedule(SECRET, GM), "hub.example/log", interval=timedelta(0))
    with unit_of_work(sessions, write=True) as session:
        note = signer.sign(session).note
    checkpoint = signer.verifier().verify(note, origin="hub.example/log")
    assert vmap.map_root_in(checkpoint.extensions) == stored_root
