"""What the audit log hands back: receipts, and the RFC 9162 leaf hash. Appending is
:mod:`exchange.audit.log`'s; when an entry cannot be written it refuses with
:class:`exchange.audit.errors.AuditUnavailable` (503: nothing is released)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

__all__ = ["Receipt", "leaf_hash"]

log = logging.getLogger("tongban.audit")


@dataclass(frozen=True)
class Receipt:
    """Where an entry went: its index in the log and its leaf hash."""

    index: int
    leaf_hash: bytes


def leaf_hash(entry_bytes: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry_bytes).digest()
