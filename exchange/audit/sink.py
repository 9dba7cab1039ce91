"""What the audit log hands back and how it names subjects: receipts, the refusal when an
entry cannot be written (:class:`AuditUnavailable`, 503: nothing is released), keyed subject
pseudonyms, and the RFC 9162 leaf hash. Appending is :mod:`exchange.audit.log`'s."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from schemas import TongbanError

__all__ = ["AuditUnavailable", "Receipt", "leaf_hash", "pseudonym", "pseudonym_key"]

log = logging.getLogger("tongban.audit")


class AuditUnavailable(TongbanError):
    code = "audit_unavailable"
    status = 503
    title = "The audit log cannot be written; nothing was released"


@dataclass(frozen=True)
class Receipt:
    """Where an entry went: its index in the log and its leaf hash."""

    index: int
    leaf_hash: bytes


def pseudonym_key(secret: str) -> bytes:
    """The key of subject pseudonyms, derived from the hub secret (stable across workers)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"tongban", info=b"audit-subject-pseudonym"
    ).derive(secret.encode())


def pseudonym(key: bytes, id_type: str, subject_id: str) -> str:
    """The keyed pseudonym of a subject: HMAC-SHA-256 of ``<id_type>:<id>``, hex."""
    return hmac.new(key, f"{id_type}:{subject_id}".encode(), hashlib.sha256).hexdigest()


def leaf_hash(entry_bytes: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry_bytes).digest()
