"""Encryption at rest of the source cache: envelope encryption with AES-256-GCM.

* **Master key-encryption key (KEK)**: HKDF-SHA256 of ``TONGBAN_SECRET_KEY`` with its own info
  string (not the hub signing keys' one), so one secret serves both without key reuse.
* **Data keys**: one random 256-bit key per provider department and version, stored only
  wrapped: ``nonce ‖ AES-256-GCM(KEK, data key, AAD = "dk" ‖ department ‖ version)``; a wrapped
  key moved to another department's row does not unwrap.
* **Records**: ``nonce ‖ AES-256-GCM(data key, fields JSON, AAD = resource ‖ subject ‖ seq ‖
  key version)`` with a fresh random 96-bit nonce per write; a ciphertext moved to another
  row or resource does not decrypt.
* **Subjects** are ``HMAC-SHA256(subject key, resource ‖ ID number)``, the subject key also
  derived from the secret: the cache can be searched by subject without holding the ID, and
  the same person is not linkable across resources from the tables alone.
* **Content MACs** (``HMAC(content key, resource ‖ subject ‖ canonical fields JSON)``) let a
  snapshot diff skip unchanged records without decrypting; bound to the row, so equal
  records of two people do not show as equal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exchange.security.secrets import KeySchedule, KeyUse, schedule_of
from exchange.sources.errors import CacheIntegrityError

__all__ = ["CacheCrypto", "CacheIntegrityError", "canonical_values", "record_aad"]

_NONCE_BYTES = 12
DATA_KEY_BYTES = 32


def canonical_values(values: Mapping[str, Any]) -> bytes:
    """The fields of a record as compact, key-sorted UTF-8 JSON (what is sealed and MACed)."""
    return json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class CacheCrypto:
    """The cache's keys derived from the hub secret, and the operations on them."""

    def __init__(self, secret: str | KeySchedule) -> None:
        schedule = schedule_of(secret)
        self._kek = AESGCM(schedule.key(KeyUse.CACHE_KEY_ENCRYPTION))
        self._subject_key = schedule.key(KeyUse.CACHE_SUBJECT_MAC)
        self._content_key = schedule.key(KeyUse.CACHE_CONTENT_MAC)

    # -- data keys -----------------------------------------------------------------------

    @staticmethod
    def new_data_key() -> bytes:
        return AESGCM.generate_key(bit_length=8 * DATA_KEY_BYTES)

    def wrap(self, department: str, version: int, data_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._kek.encrypt(nonce, data_key, _key_aad(department, version))

    def unwrap(self, department: str, version: int, wrapped: bytes) -> bytes:
        try:
            key = self._kek.decrypt(
                wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _key_aad(department, version)
            )
        except InvalidTag:
            raise CacheIntegrityError(
                f"the data key {department}/{version} does not unwrap under this hub's secret"
            ) from None
        return key

    # -- records -------------------------------------------------------------------------

    def subject_mac(self, resource: str, subject: str) -> str:
        message = resource.encode() + b"\x00" + subject.encode()
        return hmac.new(self._subject_key, message, hashlib.sha256).hexdigest()

    def content_mac(self, resource: str, subject_mac: str, plain: bytes) -> str:
        message = resource.encode() + b"\x00" + subject_mac.encode() + b"\x00" + plain
        return hmac.new(self._content_key, message, hashlib.sha256).hexdigest()

    @staticmethod
    def seal(data_key: AESGCM, aad: bytes, plain: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + data_key.encrypt(nonce, plain, aad)

    @staticmethod
    def open(data_key: AESGCM, aad: bytes, sealed: bytes) -> dict[str, Any]:
        try:
            plain = data_key.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)
        except InvalidTag:
            raise CacheIntegrityError("a cached record does not authenticate") from None
        values: dict[str, Any] = json.loads(plain)
        return values


def record_aad(resource: str, subject_mac: str, seq: int, key_version: int) -> bytes:
    """Associated data of a sealed record: the row's identity and the key version."""
    return f"rec\x00{resource}\x00{subject_mac}\x00{seq}\x00{key_version}".encode()


def _key_aad(department: str, version: int) -> bytes:
    return f"dk\x00{department}\x00{version}".encode()
