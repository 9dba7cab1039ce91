"""The audit sink: append one entry inside the request's unit of work.

Until the Merkle log lands this is a plain append-only table; each entry is already stored as
its RFC 8785 canonical bytes with the RFC 9162 leaf hash H(0x00 ‖ bytes), so the log can be
built over the same rows. If the entry cannot be written the caller releases nothing: the
error is :class:`AuditUnavailable` (503).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from exchange.audit.canonical import canonical_json
from exchange.audit.models import AuditRecord
from schemas import TongbanError

__all__ = ["AuditUnavailable", "Receipt", "append_entry", "leaf_hash", "pseudonym", "pseudonym_key"]

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


def append_entry(session: Session, entry: dict[str, Any], *, at: datetime) -> Receipt:
    """Append *entry* (caller commits). The entry must hold ``request_id``, ``kind``,
    ``system``, ``department``, ``subject`` (a pseudonym), ``purpose`` and ``outcome``."""
    data = canonical_json(entry)
    digest = leaf_hash(data)
    record = AuditRecord(
        request_id=entry["request_id"],
        recorded_at=at,
        kind=entry["kind"],
        system_id=entry["system"],
        department=entry["department"],
        subject=entry["subject"],
        purpose=entry["purpose"],
        outcome=entry["outcome"],
        entry=data.decode("utf-8"),
        leaf_hash=digest,
    )
    try:
        session.add(record)
        session.flush()
    except SQLAlchemyError as exc:
        log.error("audit append failed: %s", type(exc).__name__)
        raise AuditUnavailable("the audit entry could not be written") from None
    return Receipt(record.index, digest)
