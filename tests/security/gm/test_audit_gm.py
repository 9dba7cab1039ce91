"""The audit log under the gm profile: SM3 in the Merkle tree (RFC 9162 otherwise), checkpoints
as signed notes with the SM2 signature type, pseudonyms in HMAC-SM3; and the intl hot path keeps
its very SHA-256 functions."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from exchange.audit import merkle
from exchange.audit.checkpoint import SM2_SM3, Checkpoint, NoteSigner, key_id, parse_vkey
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.errors import CheckpointError
from exchange.security.gm import GM, INTL, Sm2PublicKey, SoftwareSm2Signer, hmac_sm3, sm3
from exchange.security.secrets import KeySchedule, KeyUse
from exchange.security.subjects import Pseudonyms
from tests.security.gm.test_interop import DISTID, _openssl, _run, _sm_crypto

SECRET = "gm-audit-test-secret-" + "x" * 24
RESIDENT_ID = "11010519491231002X"


@pytest.fixture
def gm_tree() -> Iterator[None]:
    merkle.use_profile(GM)
    try:
        yield
    finally:
        merkle.use_profile(INTL)


def test_intl_binds_the_very_sha256_functions() -> None:
    """No added cost on the intl hot path: the names the append path calls are the plain
    SHA-256 functions, not a wrapper that asks for the profile."""
    merkle.use_profile(INTL)
    assert merkle.leaf_hash is merkle.sha256_leaf_hash
    assert merkle.node_hash is merkle.sha256_node_hash
    assert merkle.root([]) == hashlib.sha256(b"").digest()


def test_gm_hashes_the_tree_with_sm3(gm_tree: None) -> None:
    assert merkle.bound_profile == "gm"
    assert merkle.leaf_hash(b"entry") == sm3(b"\x00entry")
    left, right = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    assert merkle.node_hash(left, right) == sm3(b"\x01" + left + right)
    assert merkle.root([]) == sm3(b"")
    assert merkle.root([left, right]) == sm3(b"\x01" + left + right)


def test_gm_proofs_verify_under_sm3_and_not_under_sha256(gm_tree: None) -> None:
    leaves = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(13)]
    stored = {}
    for n in range(len(leaves)):
        for level, index in merkle.completed_nodes(n):
            lo = index << level
            stored[(level, index)] = merkle.root(leaves[lo : lo + (1 << level)])
    assert stored[(0, 5)] == leaves[5]
    root = merkle.root_from(13, lambda level, index: stored[(level, index)])
    assert root == merkle.root(leaves)
    proof = merkle.inclusion_proof(5, 13, lambda level, index: stored[(level, index)])
    assert merkle.verify_inclusion(leaves[5], 5, 13, proof, root)
    old = merkle.root(leaves[:6])
    consistency = merkle.consistency_proof(6, 13, lambda level, index: stored[(level, index)])
    assert merkle.verify_consistency(6, 13, consistency, old, root)
    merkle.use_profile(INTL)
    assert not merkle.verify_inclusion(leaves[5], 5, 13, proof, root)


def test_gm_pseudonyms_are_hmac_sm3() -> None:
    schedule = KeySchedule(SECRET, GM)
    gm = Pseudonyms.from_schedule(schedule).of(RESIDENT_ID)
    key = schedule.key(KeyUse.SUBJECT_PSEUDONYM)
    assert gm == hmac_sm3(key, f"CN-RIC:{RESIDENT_ID}".encode()).hex()
    assert len(gm) == 64
    intl = Pseudonyms.from_schedule(KeySchedule(SECRET)).of(RESIDENT_ID)
    assert intl != gm
    assert KeySchedule(SECRET).key(KeyUse.SUBJECT_PSEUDONYM) != key  # HKDF-SM3, not -SHA-256


def test_gm_checkpoints_are_sm2_signed_notes() -> None:
    signer = CheckpointSigner(KeySchedule(SECRET, GM), "hub.example/log", interval=timedelta(0))
    again = CheckpointSigner(KeySchedule(SECRET, GM), "hub.example/log", interval=timedelta(0))
    assert signer.vkey() == again.vkey()  # every worker derives the same key
    name, kid_hex, key_b64 = signer.vkey().split("+", 2)
    typed = base64.b64decode(key_b64)
    assert typed[:16] == b"\xfftongban/sm2-sm3" == SM2_SM3
    assert len(typed) == 16 + 65
    point = typed[16:]
    expected_id = hashlib.sha256(b"hub.example/log\n" + SM2_SM3 + point).digest()[:4]
    assert bytes.fromhex(kid_hex) == expected_id == key_id(name, point, SM2_SM3)
    note = signer.sign_head(7, sm3(b"root"), sm3(b"map"))
    checkpoint = signer.verifier().verify(note, origin="hub.example/log")
    assert (checkpoint.size, checkpoint.root) == (7, sm3(b"root"))
    blob = base64.b64decode(note.rstrip("\n").rsplit(" ", 1)[1])
    assert blob[:4] == expected_id
    assert len(blob) == 4 + 64  # key id ‖ r ‖ s
    text = note[: note.rindex("\n\n") + 1]
    Sm2PublicKey.from_uncompressed(point).verify(blob[4:], text.encode())
    forged = note.replace("\n7\n", "\n8\n")
    with pytest.raises(CheckpointError, match="not valid"):
        signer.verifier().verify(forged)
    intl = CheckpointSigner(KeySchedule(SECRET), "hub.example/log", interval=timedelta(0))
    assert base64.b64decode(intl.vkey().split("+", 2)[2])[:1] == b"\x01"  # Ed25519
    with pytest.raises(CheckpointError):
        intl.verifier().verify(note)


def test_an_sm2_vkey_with_a_point_off_the_curve_or_a_wrong_id_is_refused() -> None:
    signer = NoteSigner("log", SoftwareSm2Signer.generate())
    name, kid, key = signer.vkey().split("+", 2)
    assert parse_vkey(signer.vkey()).vkey() == signer.vkey()
    typed = bytearray(base64.b64decode(key))
    typed[-1] ^= 1
    with pytest.raises(CheckpointError, match="curve"):
        parse_vkey(f"{name}+{kid}+{base64.b64encode(bytes(typed)).decode()}")
    with pytest.raises(CheckpointError, match="id"):
        parse_vkey(f"{name}+00000000+{key}")
    with pytest.raises(CheckpointError):
        parse_vkey(f"{name}+{kid}+{base64.b64encode(SM2_SM3 + b'x' * 64).decode()}")


def test_openssl_verifies_a_gm_checkpoint(tmp_path: Path) -> None:
    """The checkpoint's SM2 signature, checked with nothing of the hub's: the vkey's point into
    a PEM, the signature line's r ‖ s into DER, the note text as the message."""
    openssl = _openssl()
    signer = CheckpointSigner(KeySchedule(SECRET, GM), "hub.example/log", interval=timedelta(0))
    note = signer.sign_head(3, sm3(b"root"), sm3(b"map"))
    point = base64.b64decode(signer.vkey().split("+", 2)[2])[16:]
    spki = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200") + point
    pem = base64.encodebytes(spki).decode()
    (tmp_path / "log.pem").write_text(
        f"-----BEGIN PUBLIC KEY-----\n{pem}-----END PUBLIC KEY-----\n"
    )
    raw = base64.b64decode(note.rstrip("\n").rsplit(" ", 1)[1])[4:]
    (tmp_path / "sig.der").write_bytes(_der(raw))
    (tmp_path / "text").write_bytes(note[: note.rindex("\n\n") + 1].encode())
    args = ["dgst", "-sm3", "-verify", str(tmp_path / "log.pem"), "-sigopt", DISTID,
            "-signature", str(tmp_path / "sig.der")]  # fmt: skip
    assert _run(openssl, *args, str(tmp_path / "text")).stdout.strip() == "Verified OK"
    (tmp_path / "text").write_bytes(note.replace("\n3\n", "\n4\n").encode()[: len(note)])
    assert _run(openssl, *args, str(tmp_path / "text")).returncode != 0


def test_sm_crypto_derives_the_checkpoint_key_from_its_private_scalar() -> None:
    """The public key from_seed recovers from signatures is d·G as an independent library
    computes it."""
    seed = KeySchedule(SECRET, GM).key(KeyUse.CHECKPOINT_SIGNING)
    signer = SoftwareSm2Signer.from_seed(seed)
    derived = _sm_crypto({"op": "public_of", "private": signer.private_bytes().hex()})
    assert derived == {"public": signer.public_key.uncompressed.hex()}


def _der(raw: bytes) -> bytes:
    def integer(value: bytes) -> bytes:
        value = value.lstrip(b"\0")
        if not value or value[0] & 0x80:
            value = b"\0" + value
        return bytes([0x02, len(value)]) + value

    body = integer(raw[:32]) + integer(raw[32:])
    return bytes([0x30, len(body)]) + body


def test_checkpoint_body_is_unchanged_by_the_profile() -> None:
    """The tlog-checkpoint body is the same text under both profiles; only the hash inside
    and the signature line differ."""
    body = Checkpoint("o", 1, sm3(b"r")).body()
    assert body == b"o\n1\n" + base64.b64encode(sm3(b"r")) + b"\n"
