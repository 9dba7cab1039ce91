"""Encryption at rest of the source cache: envelope encryption under the crypto profile's AEAD.

The AEAD and the MAC are the hub's crypto profile's (``KeySchedule.aead``/``KeySchedule.mac``,
docs/gm.md): AES-256-GCM and HMAC-SHA-256 under ``intl``, SM4-GCM and HMAC-SM3 under ``gm``;
the layouts below are the same under both.

* **Master key-encryption key (KEK)**: HKDF of ``TONGBAN_SECRET_KEY`` (over SHA-256, or SM3
  under ``gm``) with its own info string (not the hub signing keys' one), so one secret serves
  both without key reuse.
* **Data keys**: one random key per provider department and version (32 bytes for AES-256, 16
  for SM4), stored only wrapped: ``nonce ‖ AEAD(KEK, data key, AAD = "dk" ‖ department ‖
  version) ‖ tag``; a wrapped key moved to another department's row does not unwrap.
* **Records**: ``nonce ‖ AEAD(data key, fields JSON, AAD = resource ‖ subject ‖ seq ‖ key
  version) ‖ tag`` with a fresh random 96-bit nonce per write; a ciphertext moved to another
  row or resource does not decrypt.
* **Subjects** are ``hex(MAC(subject key, resource ‖ 0x00 ‖ ID number))``, the subject key also
  derived from the secret: the cache can be searched by subject without holding the ID, and
  the same person is not linkable across resources from the tables alone.
* **Content MACs** (``MAC(content key, resource ‖ subject ‖ canonical fields JSON)``) let a
  snapshot diff skip unchanged records without decrypting; bound to the row, so equal
  records of two people do not show as equal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from exchange.security.gm.errors import CiphertextInvalid
from exchange.security.gm.profile import Aead
from exchange.security.secrets import KeySchedule, KeyUse, schedule_of
from exchange.sources.errors import CacheIntegrityError

__all__ = ["CacheCrypto", "CacheIntegrityError", "canonical_values", "record_aad"]


def canonical_values(values: Mapping[str, Any]) -> bytes:
    """The fields of a record as compact, key-sorted UTF-8 JSON (what is sealed and MACed)."""
    return json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class CacheCrypto:
    """The cache's keys derived from the hub secret, and the operations on them."""

    def __init__(self, secret: str | KeySchedule) -> None:
        schedule = schedule_of(secret)
        self._profile = schedule.profile
        self._kek = schedule.aead(KeyUse.CACHE_KEY_ENCRYPTION)
        self._subject_mac = schedule.mac(KeyUse.CACHE_SUBJECT_MAC)
        self._content_mac = schedule.mac(KeyUse.CACHE_CONTENT_MAC)

    # -- data keys -----------------------------------------------------------------------

    def new_data_key(self) -> bytes:
        """A fresh random data key of the profile's AEAD."""
        return os.urandom(self._profile.aead_key_bytes)

    def data_aead(self, department: str, version: int, data_key: bytes) -> Aead:
        """The profile's AEAD under an unwrapped data key."""
        if len(data_key) != self._profile.aead_key_bytes:
            raise CacheIntegrityError(
                f"the data key {department}/{version} is not a {self._profile.aead_name} key"
            )
        return self._profile.aead(data_key)

    def wrap(self, department: str, version: int, data_key: bytes) -> bytes:
        return self._kek.encrypt(data_key, _key_aad(department, version))

    def unwrap(self, department: str, version: int, wrapped: bytes) -> bytes:
        try:
            return self._kek.decrypt(wrapped, _key_aad(department, version))
        except CiphertextInvalid:
            raise CacheIntegrityError(
                f"the data key {department}/{version} does not unwrap under this hub's secret"
            ) from None

    # -- records -------------------------------------------------------------------------

    def subject_mac(self, resource: str, subject: str) -> str:
        message = resource.encode() + b"\x00" + subject.encode()
        return self._subject_mac(message).hex()

    def content_mac(self, resource: str, subject_mac: str, plain: bytes) -> str:
        message = resource.encode() + b"\x00" + subject_mac.encode() + b"\x00" + plain
        return self._content_mac(message).hex()

    @staticmethod
    def seal(data_key: Aead, aad: bytes, plain: bytes) -> bytes:
        return data_key.encrypt(plain, aad)

    @staticmethod
    def open(data_key: Aead, aad: bytes, sealed: bytes) -> dict[str, Any]:
        try:
            plain = data_key.decrypt(sealed, aad)
        except CiphertextInvalid:
            raise CacheIntegrityError("a cached record does not authenticate") from None
        values: dict[str, Any] = json.loads(plain)
        return values


def record_aad(resource: str, subject_mac: str, seq: int, key_version: int) -> bytes:
    """Associated data of a sealed record: the row's identity and the key version."""
    return f"rec\x00{resource}\x00{subject_mac}\x00{seq}\x00{key_version}".encode()


def _key_aad(department: str, version: int) -> bytes:
    return f"dk\x00{department}\x00{version}".encode()
