"""What the audit log hands back and how it names subjects: receipts, the refusal when an
entry cannot be written (:class:`AuditUnavailable`, 503: nothing is released), keyed subject
pseudonyms, and the RFC 9162 leaf hash. Appending is :mod:`exchange.audit.log`'s."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from schemas import TongbanError

__all__ = ["AuditUnavailable", "Receipt", "leaf_hash"]

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


def leaf_hash(entry_bytes: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry_bytes).digest()
