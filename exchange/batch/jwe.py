"""JWE compact serialisation to a consumer's public key (RFC 7516, RFC 7518 §4.6): ``alg``
``ECDH-ES`` (direct key agreement, the Concat KDF of NIST SP 800-56A with SHA-256) and ``enc``
``A256GCM``, to an EC P-256 key (RFC 7518) or an OKP X25519 key (RFC 8037).

Each call draws a fresh ephemeral key and IV; the hub keeps neither, so it cannot decrypt what
it made. Any JOSE library reads the result (``jose`` for Node.js, ``joserfc``, ``jwcrypto``).
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

__all__ = ["ALG", "ENC", "encrypt_to", "public_encryption_key"]

ALG = "ECDH-ES"
ENC = "A256GCM"
_CURVES = {"P-256": ec.SECP256R1()}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


PublicKey = ec.EllipticCurvePublicKey | x25519.X25519PublicKey


def public_encryption_key(jwk: Mapping[str, Any]) -> PublicKey:
    """The public key of an encryption JWK (EC P-256 or OKP X25519); ``ValueError`` naming
    what is wrong otherwise. Private members are refused."""
    if "d" in jwk:
        raise ValueError("the key holds a private member (d); register the public key only")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP" and crv == "X25519":
        raw = _unb64(str(jwk.get("x", "")))
        if len(raw) != 32:
            raise ValueError("an X25519 key's x is 32 bytes")
        return x25519.X25519PublicKey.from_public_bytes(raw)
    if kty == "EC" and crv == "P-256":
        x, y = _unb64(str(jwk.get("x", ""))), _unb64(str(jwk.get("y", "")))
        if len(x) != 32 or len(y) != 32:
            raise ValueError("a P-256 key's x and y are 32 bytes each")
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), _CURVES["P-256"]
        )
        return numbers.public_key()  # refuses a point not on the curve
    raise ValueError("an encryption key is EC P-256 or OKP X25519")


def _agree(recipient: PublicKey) -> tuple[bytes, dict[str, str]]:
    """The shared secret Z with a fresh ephemeral key, and that key's public JWK (``epk``)."""
    if isinstance(recipient, x25519.X25519PublicKey):
        ephemeral = x25519.X25519PrivateKey.generate()
        epk = {"kty": "OKP", "crv": "X25519", "x": _b64(ephemeral.public_key().public_bytes_raw())}
        return ephemeral.exchange(recipient), epk
    key = ec.generate_private_key(_CURVES["P-256"])
    numbers = key.public_key().public_numbers()
    epk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }
    return key.exchange(ec.ECDH(), recipient), epk


def _content_key(shared: bytes) -> bytes:
    """RFC 7518 §4.6.2: Concat KDF over Z; AlgorithmID is ``enc`` (direct agreement), no
    PartyUInfo or PartyVInfo, SuppPubInfo the key length in bits."""

    def counted(value: bytes) -> bytes:
        return struct.pack(">I", len(value)) + value

    other = counted(ENC.encode()) + counted(b"") + counted(b"") + struct.pack(">I", 256)
    return ConcatKDFHash(algorithm=hashes.SHA256(), length=32, otherinfo=other).derive(shared)


def encrypt_to(jwk: Mapping[str, Any], plaintext: bytes, *, cty: str) -> str:
    """*plaintext* as a compact JWE to the public *jwk* (its ``kid`` in the header)."""
    shared, epk = _agree(public_encryption_key(jwk))
    header = {"alg": ALG, "enc": ENC, "kid": str(jwk.get("kid", "")), "cty": cty, "epk": epk}
    protected = _b64(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
    iv = os.urandom(12)
    sealed = AESGCM(_content_key(shared)).encrypt(iv, plaintext, protected.encode("ascii"))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return ".".join((protected, "", _b64(iv), _b64(ciphertext), _b64(tag)))
