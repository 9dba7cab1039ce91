"""Witness cosignatures on checkpoints (c2sp.org/tlog-cosignature, ``cosignature/v1``).

A cosignature is a signed-note signature line ``— <cosigner name> base64(key id ‖ timestamp ‖
signature)``, added to a checkpoint by a witness that checked the checkpoint is consistent with
every earlier one it saw of that log. The timestamp is a big-endian u64 of POSIX seconds, never
zero here (tlog-witness forbids it). Three signature types:

- **Ed25519** (type byte 0x04): key id = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]; the signed
  message is ``cosignature/v1\\n``, ``time <timestamp>\\n``, then the checkpoint's whole body
  (extension lines included).
- **SM2** (the ``gm`` profile; docs/gm.md, "Witness cosignatures"): c2sp.org/tlog-cosignature
  assigns no SM2 type, so, as the hub's SM2 note type does, C2SP's reserved ``0xff`` followed by
  an identifier: type ``0xff ‖ "tongban/cosignature-sm2-sm3"`` (28 bytes), the 65-byte
  uncompressed point, key id = SHA-256(name ‖ 0x0A ‖ type ‖ point)[:4]; the signed message is
  Ed25519's (``cosignature/v1``, ``time``, the body), signed with SM2, SM3 and the ID
  ``1234567812345678``; the signature is raw ``r ‖ s`` (64 bytes).
- **ML-DSA-44** (type byte 0x06, FIPS 204): key id = SHA-256(name ‖ 0x0A ‖ 0x06 ‖ public key)[:4];
  the signed message is the ``cosigned_message`` structure: the 12-byte label
  ``subtree/v1\\n\\0``, the cosigner name and the origin each with a one-byte length, the timestamp,
  start (0) and end (the tree size) as u64, and the 32-byte root. It commits to the cosigner's
  name and not to extension lines.

A :class:`Cosigner` (the witness side) signs; a :class:`CosignatureVerifier` (every client side)
picks its own lines out of a note by name and key id, ignores everything else as the
signed-note spec says, and returns the timestamp of a valid line. A line with this cosigner's
name and key id whose signature fails is an error, not an absent cosignature.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from exchange.audit.checkpoint import (
    Checkpoint,
    b64,
    check_key_name,
    parse_checkpoint,
    split_note,
    vkey_parts,
)
from exchange.audit.errors import CheckpointError
from exchange.security.gm.errors import GmKeyInvalid, GmSignatureInvalid
from exchange.security.gm.sm2 import Sm2PublicKey, Sm2Signer

__all__ = [
    "ALGORITHMS",
    "SM2_COSIGNATURE",
    "Algorithm",
    "Cosignature",
    "CosignatureVerifier",
    "Cosigner",
    "algorithm_of",
    "cosignature_key_id",
    "parse_cosigner_vkey",
]

Algorithm = Literal["ed25519", "ml-dsa-44", "sm2"]
SM2_COSIGNATURE = b"\xfftongban/cosignature-sm2-sm3"  # 0xff ‖ identifier (docs/gm.md)
ALGORITHMS: dict[Algorithm, bytes] = {
    "ed25519": b"\x04",
    "ml-dsa-44": b"\x06",
    "sm2": SM2_COSIGNATURE,
}
_PUBLIC_KEY_SIZE: dict[Algorithm, int] = {"ed25519": 32, "ml-dsa-44": 1312, "sm2": 65}
_SIGNATURE_SIZE: dict[Algorithm, int] = {"ed25519": 64, "ml-dsa-44": 2420, "sm2": 64}
_SUBTREE_LABEL = b"subtree/v1\n\x00"
MAX_TIMESTAMP = 2**63 - 1

PrivateKey = Ed25519PrivateKey | MLDSA44PrivateKey | Sm2Signer
PublicKey = Ed25519PublicKey | MLDSA44PublicKey | Sm2PublicKey


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: who made it, on which checkpoint, at what POSIX time."""

    name: str
    key_id: bytes
    timestamp: int
    checkpoint: Checkpoint
    line: str  # the signature line as it appears in the note, without the final newline


def cosignature_key_id(name: str, algorithm: Algorithm, public_key: bytes) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ type byte ‖ public key)[:4]."""
    material = name.encode("utf-8") + b"\n" + ALGORITHMS[algorithm] + public_key
    return hashlib.sha256(material).digest()[:4]


def signed_message(
    algorithm: Algorithm, name: str, checkpoint: Checkpoint, timestamp: int
) -> bytes:
    """The bytes a cosigner signs for *checkpoint* at *timestamp*."""
    if algorithm in ("ed25519", "sm2"):
        return f"cosignature/v1\ntime {timestamp}\n".encode("ascii") + checkpoint.body()
    origin, cosigner = checkpoint.origin.encode("utf-8"), name.encode("utf-8")
    if not 0 < len(cosigner) < 256 or not 0 < len(origin) < 256:
        raise CheckpointError("ML-DSA-44 cosignatures need a name and origin under 256 bytes")
    return b"".join(
        [
            _SUBTREE_LABEL,
            bytes([len(cosigner)]),
            cosigner,
            struct.pack(">Q", timestamp),
            bytes([len(origin)]),
            origin,
            struct.pack(">QQ", 0, checkpoint.size),
            checkpoint.root,
        ]
    )


class Cosigner:
    """A witness's signing key: cosigns checkpoints it has checked."""

    def __init__(self, name: str, private_key: PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self._private_key = private_key
        self.algorithm: Algorithm
        if isinstance(private_key, Ed25519PrivateKey | MLDSA44PrivateKey):
            self.algorithm = (
                "ed25519" if isinstance(private_key, Ed25519PrivateKey) else "ml-dsa-44"
            )
            public = private_key.public_key()
            self.public_key = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        else:
            self.algorithm = "sm2"
            self.public_key = private_key.public_key.uncompressed
        self.key_id = cosignature_key_id(name, self.algorithm, self.public_key)

    def cosign(self, checkpoint: Checkpoint, timestamp: int) -> str:
        """The cosignature line (ending in a newline) on *checkpoint* at *timestamp*."""
        if isinstance(timestamp, bool) or not 0 < timestamp <= MAX_TIMESTAMP:
            raise CheckpointError("a cosignature's timestamp must be a positive POSIX time")
        message = signed_message(self.algorithm, self.name, checkpoint, timestamp)
        signature = self._private_key.sign(message)
        blob = self.key_id + struct.pack(">Q", timestamp) + signature
        return f"— {self.name} {b64(blob)}\n"

    def vkey(self) -> str:
        """``<name>+<hex key id>+<base64(type byte ‖ public key)>``."""
        material = ALGORITHMS[self.algorithm] + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{b64(material)}"

    def verifier(self) -> CosignatureVerifier:
        return parse_cosigner_vkey(self.vkey())


class CosignatureVerifier:
    """Checks one cosigner's lines in notes."""

    def __init__(self, name: str, algorithm: Algorithm, public_key: bytes) -> None:
        check_key_name(name)
        if len(public_key) != _PUBLIC_KEY_SIZE[algorithm]:
            raise CheckpointError(f"an {algorithm} cosigner key has the wrong length")
        self.name = name
        self.algorithm = algorithm
        self.public_key = public_key
        self.key_id = cosignature_key_id(name, algorithm, public_key)
        self._key: PublicKey
        if algorithm == "ed25519":
            self._key = Ed25519PublicKey.from_public_bytes(public_key)
        elif algorithm == "ml-dsa-44":
            self._key = MLDSA44PublicKey.from_public_bytes(public_key)
        else:
            try:
                self._key = Sm2PublicKey.from_uncompressed(public_key)
            except GmKeyInvalid:
                raise CheckpointError("an SM2 cosigner key is not a point of the curve") from None

    def vkey(self) -> str:
        material = ALGORITHMS[self.algorithm] + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{b64(material)}"

    def find(self, note: str) -> Cosignature | None:
        """This cosigner's valid cosignature in *note*; ``None`` when the note has no line of
        this name and key id. :class:`CheckpointError` when such a line does not verify, or the
        note is not a well-formed checkpoint note."""
        text, signatures = split_note(note)
        checkpoint = parse_checkpoint(text)
        found: Cosignature | None = None
        for name, kid, blob in signatures:
            if (name, kid) != (self.name, self.key_id):
                continue
            timestamp = self.check(checkpoint, blob)
            if found is None or timestamp > found.timestamp:
                line = f"— {name} {b64(kid + blob)}"
                found = Cosignature(name, kid, timestamp, checkpoint, line)
        return found

    def check(self, checkpoint: Checkpoint, blob: bytes) -> int:
        """The timestamp of the cosignature *blob* (timestamp ‖ signature, key id removed) on
        *checkpoint*, once it verifies."""
        if len(blob) != 8 + _SIGNATURE_SIZE[self.algorithm]:
            raise CheckpointError(f"the cosignature of {self.name} has the wrong length")
        (timestamp,) = struct.unpack(">Q", blob[:8])
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise CheckpointError(f"the cosignature of {self.name} has no valid timestamp")
        message = signed_message(self.algorithm, self.name, checkpoint, timestamp)
        try:
            self._key.verify(blob[8:], message)
        except (InvalidSignature, GmSignatureInvalid):
            raise CheckpointError(f"the cosignature of {self.name} is not valid") from None
        return int(timestamp)


def parse_cosigner_vkey(text: str) -> CosignatureVerifier:
    """The verifier of a cosigner vkey (type 0x04 Ed25519, 0x06 ML-DSA-44 or
    :data:`SM2_COSIGNATURE`); the key id must be the one the name and key give."""
    name, kid, material = vkey_parts(text)
    algorithm = algorithm_of(material)
    if algorithm is None:
        raise CheckpointError(
            "the verifier key is not a cosignature key (type 0x04, 0x06 or SM2's 0xff type)"
        )
    verifier = CosignatureVerifier(name, algorithm, material[len(ALGORITHMS[algorithm]) :])
    if verifier.key_id != kid:
        raise CheckpointError("the verifier key's id does not match its key")
    return verifier


def algorithm_of(material: bytes) -> Algorithm | None:
    """The algorithm whose type bytes begin *material* (a key's type ‖ key), or ``None``."""
    for algorithm, type_bytes in ALGORITHMS.items():
        if len(material) > len(type_bytes) and material.startswith(type_bytes):
            return algorithm
    return None
