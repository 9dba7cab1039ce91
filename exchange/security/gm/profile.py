"""The crypto profiles: which algorithm does each cryptographic job of the hub.

A hub runs under one profile, chosen at set-up (``TONGBAN_CRYPTO_PROFILE``) and recorded in its
database (``exchange.security.gm.profile_check``):

============================  ===========================  =====================================
job                           ``intl`` (the default)        ``gm`` (national, 国密)
============================  ===========================  =====================================
Merkle tree (RFC 9162 §2.1.1)  SHA-256                      SM3
pseudonyms, key schedule       HMAC-SHA-256                 HMAC-SM3
signatures (JWS ``alg``)       Ed25519 ``EdDSA`` (ES256)    SM2 with SM3 and ID 1234567812345678
                                                            ``SM2SM3``
signed notes (type byte)       0x01 (Ed25519)               0xff ‖ ``tongban/sm2-sm3``
data at rest (AEAD)            AES-256-GCM                  SM4-GCM
============================  ===========================  =====================================

A profile is data plus the three functions a caller needs without knowing which profile it
has (:meth:`CryptoProfile.hash`, :meth:`CryptoProfile.mac`, :meth:`CryptoProfile.aead`);
signing stays behind :class:`~exchange.security.gm.sm2.Sm2Signer` and the hub's key store.
docs/gm.md gives every format byte by byte.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exchange.security.gm.errors import CiphertextInvalid
from exchange.security.gm.sm2 import SIGNATURE_BYTES
from exchange.security.gm.symmetric import Sm4Gcm, hmac_sm3, sm3
from policies.transforms import HMAC_SHA256, KeyedHashFunction

__all__ = [
    "GM",
    "INTL",
    "PROFILES",
    "Aead",
    "AesGcm",
    "CryptoProfile",
    "ProfileName",
    "profile_named",
]

ProfileName = Literal["intl", "gm"]


class Aead(Protocol):
    """Authenticated encryption under one key: ``nonce ‖ ciphertext ‖ tag`` blobs."""

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes: ...

    def decrypt(self, blob: bytes, associated_data: bytes = b"") -> bytes: ...


class AesGcm:
    """AES-256-GCM in the same blob layout as :class:`~exchange.security.gm.symmetric.Sm4Gcm`."""

    NONCE_BYTES = 12

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("an AES-256 key is 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        nonce = os.urandom(self.NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, blob: bytes, associated_data: bytes = b"") -> bytes:
        nonce, body = blob[: self.NONCE_BYTES], blob[self.NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, associated_data)
        except (InvalidTag, ValueError):
            raise CiphertextInvalid("the AES-256-GCM blob does not decrypt") from None


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


@dataclass(frozen=True)
class CryptoProfile:
    """One profile's algorithms: names to show and record, and the functions behind them."""

    name: ProfileName
    hash_name: str
    """The Merkle tree's hash (leaf and node hashing otherwise exactly RFC 9162 §2.1.1)."""
    mac_name: str
    """The keyed hash of pseudonyms and of the key schedule's derivations."""
    signature_name: str
    jws_algs: tuple[str, ...]
    """The JWS ``alg`` values this profile signs and accepts; the first is the hub's own."""
    note_signature_type: bytes
    """The C2SP signed-note signature type that starts a key's encoding and its key-ID input."""
    signature_bytes: int
    aead_name: str
    aead_key_bytes: int
    _hash: Callable[[bytes], bytes] = field(repr=False)
    _mac: Callable[[bytes, bytes], bytes] = field(repr=False)
    _aead: Callable[[bytes], Aead] = field(repr=False)

    @property
    def jws_alg(self) -> str:
        """The ``alg`` of what the hub signs under this profile."""
        return self.jws_algs[0]

    def hash(self, data: bytes) -> bytes:
        return self._hash(data)

    def mac(self, key: bytes, data: bytes) -> bytes:
        return self._mac(key, data)

    def aead(self, key: bytes) -> Aead:
        """The profile's AEAD under *key* (``aead_key_bytes`` long)."""
        return self._aead(key)

    @property
    def release_hash(self) -> KeyedHashFunction:
        """The keyed hash a ``hash`` release gives out: HMAC-SHA-256 (``hmac-sha256:…``) under
        ``intl``, HMAC-SM3 (``hmac-sm3:…``) under ``gm`` (docs/gm.md, the formats)."""
        return _RELEASE_HASHES[self.name]


INTL = CryptoProfile(
    name="intl",
    hash_name="SHA-256",
    mac_name="HMAC-SHA-256",
    signature_name="Ed25519",
    jws_algs=("EdDSA", "ES256"),
    note_signature_type=b"\x01",
    signature_bytes=64,
    aead_name="AES-256-GCM",
    aead_key_bytes=32,
    _hash=_sha256,
    _mac=_hmac_sha256,
    _aead=AesGcm,
)
GM = CryptoProfile(
    name="gm",
    hash_name="SM3",
    mac_name="HMAC-SM3",
    signature_name="SM2 with SM3, distinguishing ID 1234567812345678",
    jws_algs=("SM2SM3",),
    note_signature_type=b"\xfftongban/sm2-sm3",
    signature_bytes=SIGNATURE_BYTES,
    aead_name="SM4-GCM",
    aead_key_bytes=Sm4Gcm.KEY_BYTES,
    _hash=sm3,
    _mac=hmac_sm3,
    _aead=Sm4Gcm,
)
_RELEASE_HASHES: dict[str, KeyedHashFunction] = {
    "intl": HMAC_SHA256,
    "gm": KeyedHashFunction("hmac-sm3", hmac_sm3),
}
PROFILES: dict[str, CryptoProfile] = {profile.name: profile for profile in (INTL, GM)}


def profile_named(name: str) -> CryptoProfile:
    """The profile called *name* (``intl`` or ``gm``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"no crypto profile {name!r}; there are intl and gm") from None
