"""The key schedule: every key the hub derives from its one master secret, in one table.

The master secret is ``TONGBAN_SECRET_KEY`` (or, in ``dev``, the installation's generated
``var/secret.key``); :mod:`exchange.security.custody` splits it among custodians. Nothing else in
the hub is a root of trust, so every key below is a pure function of that secret and a label:
every worker and every restart derives the same keys, and none of them is stored.

Two constructions, both over the crypto profile's hash (SHA-256 under ``intl``, SM3 under
``gm``, :mod:`exchange.security.gm.profile`):

* ``hkdf``: HKDF (RFC 5869) with salt ``b"tongban"`` and the label as ``info``;
* ``hmac``: HMAC with the secret as key and the label (followed by a context, when the use has
  one) as message.

A key is 32 bytes; a use that needs a shorter one (an SM4 key is 16 bytes) takes its first bytes,
which is the same as HKDF with that output length.

A label is part of the data it protects (a pseudonym, a wrapped key, a signed note): changing one
orphans what was written under it, so labels never change; a new use gets a new row. The test
``tests/security/test_key_schedule.py`` pins every row's output and that no two rows share a label.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Final, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from exchange.security.gm.profile import INTL, Aead, CryptoProfile
from exchange.security.gm.symmetric import hmac_sm3

__all__ = ["SCHEDULE", "Derivation", "KeySchedule", "KeyUse", "derive", "schedule_of"]

_SALT: Final = b"tongban"


class KeyUse(StrEnum):
    """What a derived key is for; each is one row of :data:`SCHEDULE`."""

    HUB_KEYS_AT_REST = "hub_keys_at_rest"
    DEV_IDP_SIGNING = "dev_idp_signing"
    CHECKPOINT_SIGNING = "checkpoint_signing"
    SUBJECT_PSEUDONYM = "subject_pseudonym"
    RELEASE_HASH = "release_hash"
    CACHE_KEY_ENCRYPTION = "cache_key_encryption"
    CACHE_SUBJECT_MAC = "cache_subject_mac"
    CACHE_CONTENT_MAC = "cache_content_mac"
    CUSTODY_CHECK_VALUE = "custody_check_value"
    SECRET_CHECK_VALUE = "secret_check_value"  # noqa: S105 - a key use, not a secret
    CORRECTION_SUBJECTS = "correction_subjects"
    CORRECTION_FINGERPRINT = "correction_fingerprint"
    SUBSCRIPTIONS_AT_REST = "subscriptions_at_rest"


@dataclass(frozen=True, slots=True)
class Derivation:
    """One row of the key schedule: how the key is made and what it protects."""

    construction: Literal["hkdf", "hmac"]
    label: bytes
    protects: str


SCHEDULE: Final[dict[KeyUse, Derivation]] = {
    KeyUse.HUB_KEYS_AT_REST: Derivation(
        "hkdf",
        b"tongban hub-signing-keys at rest v1",
        "AEAD (AES-256-GCM; SM4-GCM under gm) wrapping of the hub's stored signing keys "
        "(security/keys.py)",
    ),
    KeyUse.DEV_IDP_SIGNING: Derivation(
        "hkdf",
        b"dev-idp-signing-key",
        "Ed25519 seed of the development identity provider, dev mode only (security/identity.py)",
    ),
    KeyUse.CHECKPOINT_SIGNING: Derivation(
        "hkdf",
        b"audit-checkpoint-key",
        "Ed25519 seed of the audit log's checkpoint signer (audit/checkpoints.py)",
    ),
    KeyUse.SUBJECT_PSEUDONYM: Derivation(
        "hkdf",
        b"audit-subject-pseudonym",
        "HMAC key of subject pseudonyms in the audit log, consents and budgets "
        "(security/subjects.py)",
    ),
    KeyUse.RELEASE_HASH: Derivation(
        "hmac",
        b"release-hash",
        "key of the per-consumer keyed hashes a `hash` transform releases (query/pipeline.py)",
    ),
    KeyUse.CACHE_KEY_ENCRYPTION: Derivation(
        "hkdf",
        b"tongban source-cache key-encryption key v1",
        "AEAD (AES-256-GCM; SM4-GCM under gm) wrapping of the source cache's per-department "
        "data keys (sources/cache)",
    ),
    KeyUse.CACHE_SUBJECT_MAC: Derivation(
        "hkdf",
        b"tongban source-cache subject pseudonyms v1",
        "HMAC key of the cache's subject pseudonyms (sources/cache)",
    ),
    KeyUse.CACHE_CONTENT_MAC: Derivation(
        "hkdf",
        b"tongban source-cache content macs v1",
        "HMAC key of the cache's content MACs (sources/cache)",
    ),
    KeyUse.CUSTODY_CHECK_VALUE: Derivation(
        "hmac",
        b"tongban-kcv",
        "key check value of a custody split, context: the split's set id (security/custody.py)",
    ),
    KeyUse.SECRET_CHECK_VALUE: Derivation(
        "hmac",
        b"tongban master-secret check value v1",
        "the check value the hub database keeps of its master secret, so that a hub started "
        "with another secret is refused at start (security/secret_check.py)",
    ),
    KeyUse.CORRECTION_SUBJECTS: Derivation(
        "hkdf",
        b"tongban correction subjects at rest v1",
        "AEAD (AES-256-GCM; SM4-GCM under gm) sealing of the resident ID number of a "
        "correction request, which the source department needs to find the record "
        "(corrections/service.py)",
    ),
    KeyUse.CORRECTION_FINGERPRINT: Derivation(
        "hmac",
        b"tongban correction fingerprints v1",
        "HMAC key of the fingerprints of a value before and after a correction, so the hub "
        "records that it changed without storing it (corrections/service.py)",
    ),
    KeyUse.SUBSCRIPTIONS_AT_REST: Derivation(
        "hkdf",
        b"tongban subscription outbox at rest v1",
        "AEAD (AES-256-GCM; SM4-GCM under gm) sealing of a subscription's webhook secret "
        "and of each event in its outbox, which holds released values "
        "(subscriptions/sealing.py)",
    ),
}


def derive(
    secret: bytes, use: KeyUse, context: bytes = b"", *, profile: CryptoProfile = INTL
) -> bytes:
    """The 32-byte key for ``use`` under ``secret`` (``context`` follows the label), over
    SHA-256 (``intl``) or SM3 (``gm``)."""
    row = SCHEDULE[use]
    gm = profile.name == "gm"
    if row.construction == "hkdf":
        algorithm = hashes.SM3() if gm else hashes.SHA256()
        hkdf = HKDF(algorithm=algorithm, length=32, salt=_SALT, info=row.label + context)
        return hkdf.derive(secret)
    if gm:
        return hmac_sm3(secret, row.label + context)
    return hmac.new(secret, row.label + context, hashlib.sha256).digest()


class KeySchedule:
    """The keys of one master secret under one crypto profile, each derived once on first
    use."""

    def __init__(self, master: str, profile: CryptoProfile = INTL) -> None:
        self._master = master.encode()
        self.profile = profile
        self._keys: dict[KeyUse, bytes] = {}

    def key(self, use: KeyUse) -> bytes:
        key = self._keys.get(use)
        if key is None:
            key = self._keys[use] = derive(self._master, use, profile=self.profile)
        return key

    def aead(self, use: KeyUse) -> Aead:
        """The profile's AEAD (AES-256-GCM under ``intl``, SM4-GCM under ``gm``) under the key
        of *use*, cut to the AEAD's key length (docs/gm.md)."""
        return self.profile.aead(self.key(use)[: self.profile.aead_key_bytes])

    def mac(self, use: KeyUse) -> Callable[[bytes], bytes]:
        """The profile's MAC (HMAC-SHA-256 under ``intl``, HMAC-SM3 under ``gm``) keyed with
        the key of *use*: ``mac(data)`` is the 32-byte tag."""
        return partial(self.profile.mac, self.key(use))


def schedule_of(secret: str | KeySchedule) -> KeySchedule:
    """``secret``'s key schedule (a schedule is passed through)."""
    return secret if isinstance(secret, KeySchedule) else KeySchedule(secret)
