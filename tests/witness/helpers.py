"""What the witness tests share: a log with real leaves that signs its checkpoints and computes
real consistency proofs (:mod:`exchange.audit.merkle`), add-checkpoint bodies, and a
``tongban witness serve`` process on a free port."""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.audit import merkle
from exchange.audit.checkpoint import Checkpoint, NoteSigner, b64, key_id
from tests.servers import TONGBAN, free_port, hub_environment

__all__ = ["FakeLog", "body", "forged_line", "served_witness"]


class FakeLog:
    """A log of *entries* leaves whose checkpoints it signs with its own Ed25519 key."""

    def __init__(self, entries: int = 64, *, origin: str | None = None, fork: str = "") -> None:
        self.origin = origin or f"tongban.test/audit-{uuid.uuid4().hex[:10]}"
        self.key = Ed25519PrivateKey.generate()
        self.signer = NoteSigner(self.origin, self.key)
        self.leaves = [
            merkle.leaf_hash(f"{self.origin} entry {i}{fork}".encode()) for i in range(entries)
        ]

    @property
    def origin_hash(self) -> str:
        return hashlib.sha256(self.origin.encode()).hexdigest()

    def vkey(self) -> str:
        return self.signer.vkey()

    def root(self, size: int) -> bytes:
        return merkle.root(self.leaves[:size])

    def checkpoint(self, size: int, root: bytes | None = None) -> Checkpoint:
        return Checkpoint(self.origin, size, self.root(size) if root is None else root)

    def note(self, size: int, root: bytes | None = None) -> str:
        return self.signer.sign(self.checkpoint(size, root))

    def proof(self, old: int, new: int) -> list[bytes]:
        """The RFC 9162 consistency proof from *old* to *new* (none from 0)."""
        if old == 0:
            return []
        return merkle.consistency_proof(old, new, self._subtree)

    def request(
        self,
        old: int,
        size: int,
        *,
        proof: Sequence[bytes] | None = None,
        note: str | None = None,
    ) -> bytes:
        """The add-checkpoint body from *old* to *size*, with the real proof and note unless
        given others."""
        return body(
            old,
            self.proof(old, size) if proof is None else proof,
            self.note(size) if note is None else note,
        )

    def _subtree(self, level: int, index: int) -> bytes:
        return merkle.root(self.leaves[index << level : (index + 1) << level])


def body(old: int, proof: Sequence[bytes], note: str) -> bytes:
    lines = "".join(f"{b64(node)}\n" for node in proof)
    return f"old {old}\n{lines}\n{note}".encode()


def forged_line(name: str, key: Ed25519PrivateKey, text: str) -> str:
    """A signature line with the key's name and id whose signature is over other text."""
    public = key.public_key().public_bytes_raw()
    signature = key.sign(text.encode() + b"tampered")
    return f"— {name} {b64(key_id(name, public) + signature)}\n"


@contextmanager
def served_witness(
    workdir: Path,
    *args: str,
    port: int | None = None,
    within_s: float = 30,
) -> Iterator[str]:
    """``tongban witness serve ARGS --port P`` in *workdir*; its base URL once ``/healthz``
    answers. Its output goes to ``workdir/witness.log``."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    with (workdir / "witness.log").open("ab") as output:
        process = subprocess.Popen(
            [TONGBAN, "witness", "serve", *args, "--port", str(port)],
            cwd=workdir,
            env=hub_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + within_s
        while True:
            if process.poll() is not None:
                log = (workdir / "witness.log").read_text("utf-8")
                pytest.fail(f"tongban witness serve exited {process.returncode}:\n{log}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"tongban witness serve did not come up within {within_s:g} s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)
