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
from exchange.audit.checkpoint import Checkpoint, NoteSigner, b64
from exchange.security.gm import SoftwareSm2Signer
from tests.profiles import GM
from tests.servers import TONGBAN, free_port, hub_environment

__all__ = ["FakeLog", "LogKey", "body", "forged_line", "log_key", "served_witness"]

LogKey = Ed25519PrivateKey | SoftwareSm2Signer
"""What a log signs its checkpoints with: Ed25519 (``intl``) or SM2 (``gm``)."""


class FakeLog:
    """A log of *entries* leaves whose checkpoints it signs with its own key, as a hub of the
    suite's profile does: Ed25519 over a SHA-256 tree, or SM2 over an SM3 tree under ``gm``
    (the tree's hash is the profile's, bound by ``tests/conftest.py``; a witness takes it
    from the log key's type)."""

    def __init__(self, entries: int = 64, *, origin: str | None = None, fork: str = "") -> None:
        self.origin = origin or f"tongban.test/audit-{uuid.uuid4().hex[:10]}"
        self.key = log_key()
        self.signer = NoteSigner(self.origin, self.key)
        self._notes: dict[tuple[int, bytes], str] = {}
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
        """The checkpoint at *size* signed, once: asked again, the same note (an SM2
        signature, unlike an Ed25519 one, differs each time it is made)."""
        checkpoint = self.checkpoint(size, root)
        key = (checkpoint.size, checkpoint.root)
        if key not in self._notes:
            self._notes[key] = self.signer.sign(checkpoint)
        return self._notes[key]

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


def log_key() -> LogKey:
    """A fresh log key of the suite's profile: SM2 under ``gm``, Ed25519 otherwise."""
    return SoftwareSm2Signer.generate() if GM else Ed25519PrivateKey.generate()


def forged_line(name: str, key: LogKey, text: str) -> str:
    """A signature line with the key's name and id whose signature is over other text."""
    signed = NoteSigner(name, key).sign_text(text + "tampered\n")
    return signed.rsplit("\n\n", 1)[1]


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
