"""The witness's own key: one private key in a file only its owner may read.

The file is one line in the form of a signed-note private key (as golang.org/x/mod/sumdb/note
writes them), with the cosignature type byte: ``PRIVATE+KEY+<name>+<hex key id>+<base64(type ‖
seed)>``, type 0x04 with a 32-byte Ed25519 seed, 0x06 with a 32-byte ML-DSA-44 seed (FIPS
204's ξ), or the SM2 cosignature type (``0xff ‖ "tongban/cosignature-sm2-sm3"``, docs/gm.md)
with a 32-byte seed whose SM2 private key is ``d = (seed mod (n − 2)) + 1``
(:meth:`~exchange.security.gm.sm2.SoftwareSm2Signer.from_seed`). The key id is the cosignature
key id of the name and the public key (c2sp.org/tlog-cosignature), so a file whose id does not
match its key is refused, and so is a file that its owner's group or others may read.
"""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey

from exchange.audit.checkpoint import b64, b64decode, check_key_name
from exchange.audit.cosignature import ALGORITHMS, Algorithm, Cosigner, PrivateKey, algorithm_of
from exchange.audit.errors import CheckpointError
from exchange.files import write_owner_only
from exchange.security.gm.sm2 import SoftwareSm2Signer
from exchange.witness.errors import WitnessKeyError

__all__ = ["create_key_file", "encode_private_key", "parse_private_key", "read_key_file"]

_PREFIX = "PRIVATE+KEY+"
_SEED_SIZE = 32
MAX_KEY_FILE_BYTES = 4096


def _new_key(algorithm: Algorithm) -> tuple[PrivateKey, bytes]:
    """A fresh private key of *algorithm* and its 32-byte seed."""
    if algorithm == "ed25519":
        ed25519 = Ed25519PrivateKey.generate()
        return ed25519, ed25519.private_bytes_raw()
    if algorithm == "sm2":
        seed = secrets.token_bytes(_SEED_SIZE)
        return SoftwareSm2Signer.from_seed(seed), seed
    mldsa = MLDSA44PrivateKey.generate()
    return mldsa, mldsa.private_bytes_raw()


def _key_of(algorithm: Algorithm, seed: bytes) -> PrivateKey:
    if algorithm == "ed25519":
        return Ed25519PrivateKey.from_private_bytes(seed)
    if algorithm == "sm2":
        return SoftwareSm2Signer.from_seed(seed)
    return MLDSA44PrivateKey.from_seed_bytes(seed)


def encode_private_key(cosigner: Cosigner, seed: bytes) -> str:
    """The key file's line for *cosigner*, whose private key is *seed*."""
    material = ALGORITHMS[cosigner.algorithm] + seed
    return f"{_PREFIX}{cosigner.name}+{cosigner.key_id.hex()}+{b64(material)}\n"


def parse_private_key(text: str) -> Cosigner:
    """The cosigner of a key file's text; :class:`WitnessKeyError` if it is not one."""
    line = text.strip()
    if not line.startswith(_PREFIX):
        raise WitnessKeyError("the key file does not hold a witness private key")
    name, _, rest = line[len(_PREFIX) :].partition("+")
    id_hex, _, encoded = rest.partition("+")
    try:
        check_key_name(name)
        material = b64decode(encoded, "the private key")
    except CheckpointError as exc:
        raise WitnessKeyError(f"the key file is malformed: {exc.detail}") from None
    algorithm = algorithm_of(material)
    seed = material[len(ALGORITHMS[algorithm]) :] if algorithm is not None else b""
    if algorithm is None or len(seed) != _SEED_SIZE:
        raise WitnessKeyError("the key file holds no Ed25519, ML-DSA-44 or SM2 cosigning seed")
    cosigner = Cosigner(name, _key_of(algorithm, seed))
    if cosigner.key_id.hex() != id_hex.lower():
        raise WitnessKeyError("the key file's key id does not match its key")
    return cosigner


def create_key_file(path: Path, name: str, algorithm: Algorithm) -> Cosigner:
    """A new key written to *path* (0600, its directory 0700 if made); never over a file."""
    try:
        check_key_name(name)
    except CheckpointError as exc:
        raise WitnessKeyError(f"the witness name: {exc.detail}") from None
    if algorithm == "ml-dsa-44" and len(name.encode("utf-8")) > 255:
        raise WitnessKeyError("an ML-DSA-44 witness name is at most 255 bytes")
    if path.exists() or path.is_symlink():
        raise WitnessKeyError(f"{path} exists; a witness key is never overwritten")
    key, seed = _new_key(algorithm)
    cosigner = Cosigner(name, key)
    write_owner_only(path, encode_private_key(cosigner, seed))
    return cosigner


def read_key_file(path: Path) -> Cosigner:
    """The cosigner of the key file at *path*, which only its owner may read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        hint = "make one with tongban witness init"
        raise WitnessKeyError(f"no key file at {path} ({hint})") from None
    if not stat.S_ISREG(mode):
        raise WitnessKeyError(f"{path} is not a file")
    if mode & 0o077:
        raise WitnessKeyError(f"{path} may be read by others; chmod 600 it first")
    with path.open("rb") as handle:
        data = handle.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise WitnessKeyError(f"{path} is too large to be a witness key file")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise WitnessKeyError(f"{path} does not hold a witness private key") from None
    return parse_private_key(text)
