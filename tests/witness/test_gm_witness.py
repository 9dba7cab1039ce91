"""Witnesses of a ``gm`` log (docs/gm.md, "Witness cosignatures"): the witness takes the log's
tree hash from the log key's type (SM3 for an SM2 key) whatever its own process's profile, and
cosigns with SM2 if its key is an SM2 one. In process: an SM3 log's consistency proofs are
accepted and a SHA-256 proof of the same sizes refused; an SM2 cosignature verifies with the
cosignature verifier and is refused altered. Over HTTP: a served ``gm`` demo hub whose witness
policy names a ``tongban witness serve`` process with an SM2 key gets its checkpoints cosigned
twice (the second time through an SM3 consistency proof), serves them as meeting its policy,
and the witness's cosignature verifies with the OpenSSL 3 command line."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from exchange.audit import merkle
from exchange.audit.checkpoint import (
    Checkpoint,
    NoteSigner,
    parse_checkpoint,
    parse_vkey,
    split_note,
)
from exchange.audit.cosignature import SM2_COSIGNATURE, parse_cosigner_vkey
from exchange.audit.errors import CheckpointError
from exchange.security.gm import SoftwareSm2Signer
from exchange.witness.errors import InconsistentCheckpoint
from exchange.witness.keys import create_key_file, read_key_file
from exchange.witness.logs import TrustedLogs
from exchange.witness.service import Witness
from exchange.witness.state import WitnessState
from tests.security.gm.test_gm_hub_http import _openssl_verifies
from tests.servers import TONGBAN, DemoHub, demo_hub, free_port, hub_environment
from tests.witness.helpers import body, served_witness

SM3_LEAF, SM3_NODE, _ = merkle.TREE_HASHES["gm"]


NodeHash = Callable[[bytes, bytes], bytes]


def _root(leaves: list[bytes], node: NodeHash) -> bytes:
    """RFC 9162 §2.1.1 over *leaves* (at least one) with the node hash *node*."""
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node(_root(leaves[:split], node), _root(leaves[split:], node))


class Sm3Log:
    """A log whose tree is SM3 and whose checkpoints it signs with SM2, as a ``gm`` hub's."""

    def __init__(self, entries: int = 20) -> None:
        self.origin = "tongban.test/gm-log"
        self.signer = NoteSigner(self.origin, SoftwareSm2Signer.generate())
        self.leaves = [SM3_LEAF(f"gm entry {i}".encode()) for i in range(entries)]

    def note(self, size: int) -> str:
        return self.signer.sign(Checkpoint(self.origin, size, _root(self.leaves[:size], SM3_NODE)))

    def proof(self, old: int, new: int, node: NodeHash = SM3_NODE) -> list[bytes]:
        """RFC 9162 §2.1.4.1's consistency proof, computed here with *node* alone."""
        return _subproof(old, self.leaves[:new], True, node)


def _subproof(m: int, leaves: list[bytes], complete: bool, node: NodeHash) -> list[bytes]:
    if m == len(leaves):
        return [] if complete else [_root(leaves, node)]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete, node), _root(leaves[k:], node)]
    return [*_subproof(m - k, leaves[k:], False, node), _root(leaves[:k], node)]


@pytest.fixture
def sm2_witness(tmp_path: Path) -> Iterator[tuple[Witness, Sm3Log]]:
    log = Sm3Log()
    cosigner = create_key_file(tmp_path / "witness.key", "witness.test/sm2", "sm2")
    state = WitnessState.open(str(tmp_path / "state.db"))
    yield Witness(cosigner, TrustedLogs.of([parse_vkey(log.signer.vkey())]), state), log
    state.close()


def test_an_sm2_witness_key_file_reads_back_to_the_same_key(tmp_path: Path) -> None:
    made = create_key_file(tmp_path / "w.key", "witness.test/sm2", "sm2")
    read = read_key_file(tmp_path / "w.key")
    assert (read.algorithm, read.vkey()) == ("sm2", made.vkey())
    material = base64.b64decode("+".join(made.vkey().split("+")[2:]))
    assert material[: len(SM2_COSIGNATURE)] == b"\xfftongban/cosignature-sm2-sm3"
    assert len(material) == 28 + 65
    assert material[28] == 0x04


def test_a_witness_follows_a_gm_log_through_sm3_consistency_proofs(
    sm2_witness: tuple[Witness, Sm3Log],
) -> None:
    witness, log = sm2_witness
    verifier = parse_cosigner_vkey(witness.vkey())
    first = witness.add_checkpoint(body(0, [], log.note(7)))
    assert verifier.find(log.note(7) + first) is not None
    line = witness.add_checkpoint(body(7, log.proof(7, 13), log.note(13)))
    cosigned = verifier.find(log.note(13) + line)
    assert cosigned is not None
    assert cosigned.checkpoint.size == 13


def test_a_sha256_proof_of_a_gm_log_is_refused(sm2_witness: tuple[Witness, Sm3Log]) -> None:
    """The witness's own process is intl (SHA-256): the tree's hash is the log key's, so the
    same sizes' proof hashed with SHA-256 does not verify."""
    witness, log = sm2_witness
    witness.add_checkpoint(body(0, [], log.note(7)))
    sha256_proof = log.proof(7, 13, merkle.sha256_node_hash)
    assert sha256_proof != log.proof(7, 13)
    with pytest.raises(InconsistentCheckpoint):
        witness.add_checkpoint(body(7, sha256_proof, log.note(13)))


def test_an_altered_sm2_cosignature_is_refused(sm2_witness: tuple[Witness, Sm3Log]) -> None:
    witness, log = sm2_witness
    line = witness.add_checkpoint(body(0, [], log.note(5)))
    prefix, _, blob = line.strip().rpartition(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-5] ^= 0x01
    altered = f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CheckpointError, match="not valid"):
        parse_cosigner_vkey(witness.vkey()).find(log.note(5) + altered)


def test_a_log_with_an_ed25519_and_an_sm2_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from exchange.witness.errors import WitnessConfigError

    sm2 = NoteSigner("tongban.test/mixed", SoftwareSm2Signer.generate())
    ed25519 = NoteSigner("tongban.test/mixed", Ed25519PrivateKey.generate())
    with pytest.raises(WitnessConfigError, match="one hash"):
        TrustedLogs.of([parse_vkey(sm2.vkey()), parse_vkey(ed25519.vkey())])


# -- a real gm hub and a real SM2 witness over HTTP -------------------------------------------


@dataclass
class GmWitnessed:
    hub: DemoHub
    witness: str
    witness_vkey: str


@pytest.fixture(scope="module")
def gm_witnessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GmWitnessed]:
    work = tmp_path_factory.mktemp("gm-witnessed")
    made = _run_tongban(work, "witness", "init", "--name", "witness.test/sm2", "--key-file",
                        str(work / "w.key"), "--algorithm", "sm2")  # fmt: skip
    vkey = made.strip()
    port = free_port()
    witness_url = f"http://127.0.0.1:{port}"
    policy = work / "witnesses.policy"
    policy.write_text(f"witness sm2 {vkey} {witness_url}\nquorum sm2\n", "utf-8")
    with demo_hub(
        work / "hub",
        citizens=30,
        TONGBAN_CRYPTO_PROFILE="gm",
        TONGBAN_WITNESS_POLICY_FILE=str(policy),
    ) as hub:
        log_vkey = httpx.get(f"{hub.base}/audit/checkpoint/key", timeout=10).text.strip()
        with served_witness(
            work, "--key-file", str(work / "w.key"), "--log", log_vkey,
            "--state", str(work / "state.db"), port=port,
        ) as base:  # fmt: skip
            yield GmWitnessed(hub, base, vkey)


def _run_tongban(workdir: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(
        [TONGBAN, *args], cwd=workdir, env=hub_environment(), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _sign_checkpoint(hub: DemoHub) -> httpx.Response:
    token = hub.id_token("AUD-001", "auditor")
    return httpx.post(
        f"{hub.base}/audit/checkpoint", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _query(hub: DemoHub) -> None:
    with hub.client() as client:
        client.query(hub.subject("no_property"), "school-enrolment", service_item="EDU-RXDJ-001")


def _cosignature(note: str, name: str) -> tuple[Checkpoint, bytes, int, bytes]:
    """The checkpoint, and the key id, timestamp and raw r ‖ s of *name*'s line in *note*."""
    text, lines = split_note(note)
    ((kid, blob),) = [(k, b) for n, k, b in lines if n == name]
    (timestamp,) = struct.unpack(">Q", blob[:8])
    return parse_checkpoint(text), kid, timestamp, blob[8:]


def test_a_gm_hub_gets_sm2_cosignatures_from_a_real_witness(
    gm_witnessed: GmWitnessed, tmp_path: Path
) -> None:
    hub = gm_witnessed.hub
    _query(hub)
    first = _sign_checkpoint(hub)
    assert first.status_code == 200, first.text
    _query(hub)
    _query(hub)
    second = _sign_checkpoint(hub)  # the witness checks an SM3 consistency proof this time
    assert second.status_code == 200, second.text

    served = httpx.get(f"{hub.base}/audit/checkpoint", timeout=10)
    assert served.headers["Tongban-Witness-Policy"] == "met", served.headers
    checkpoint, kid, timestamp, signature = _cosignature(served.text, "witness.test/sm2")
    before, *_ = _cosignature(first.text, "witness.test/sm2")
    assert checkpoint.size > before.size > 0

    verifier = parse_cosigner_vkey(gm_witnessed.witness_vkey)
    assert verifier.key_id == kid
    assert verifier.find(served.text) is not None
    # The witness serves what it cosigned, under the origin's SHA-256 (tlog-witness).
    origin_hash = hashlib.sha256(checkpoint.origin.encode()).hexdigest()
    held = httpx.get(f"{gm_witnessed.witness}/{origin_hash}/checkpoint", timeout=10)
    assert held.status_code == 200
    assert held.text.startswith(served.text.split("\n\n")[0])

    # OpenSSL, which shares no code with the witness, checks the SM2 cosignature.
    point = verifier.public_key
    message = f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint.body()
    assert _openssl_verifies(tmp_path, point, signature, message)
    altered = checkpoint.body().replace(b"\n", b"\n ", 1)
    assert not _openssl_verifies(
        tmp_path, point, signature, f"cosignature/v1\ntime {timestamp}\n".encode() + altered
    )


def test_a_byte_of_a_gm_hubs_consistency_proof_changed_is_refused(
    gm_witnessed: GmWitnessed, tmp_path: Path
) -> None:
    """An in-process witness of the served hub's log (its process intl): the hub's real SM3
    proof between two of its checkpoints is accepted, the same with one byte changed is not."""
    hub = gm_witnessed.hub
    log_vkey = httpx.get(f"{hub.base}/audit/checkpoint/key", timeout=10).text.strip()
    cosigner = create_key_file(tmp_path / "w.key", "witness.test/second", "sm2")
    state = WitnessState.open(str(tmp_path / "state.db"))
    witness = Witness(cosigner, TrustedLogs.of([parse_vkey(log_vkey)]), state)
    try:
        _query(hub)
        older = _sign_checkpoint(hub).text
        old = int(older.split("\n")[1])
        witness.add_checkpoint(body(0, [], older))
        _query(hub)
        newer = _sign_checkpoint(hub).text
        size = int(newer.split("\n")[1])
        assert size > old
        answer = httpx.get(
            f"{hub.base}/audit/proof/consistency", params={"from": old, "to": size}, timeout=10
        )
        nodes = [base64.b64decode(p) for p in answer.json()["proof"]]
        flipped = [bytes([nodes[0][0] ^ 1]) + nodes[0][1:], *nodes[1:]]
        with pytest.raises(InconsistentCheckpoint):
            witness.add_checkpoint(body(old, flipped, newer))
        line = witness.add_checkpoint(body(old, nodes, newer))
        assert parse_cosigner_vkey(cosigner.vkey()).find(newer + line) is not None
    finally:
        state.close()
