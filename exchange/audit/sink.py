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
    """Where an entry went, and the signed tree head that holds it: its index and leaf hash,
    the size of the tree its batch committed, the hub's signed checkpoint note of that tree
    (C2SP tlog-checkpoint, signed with the checkpoint key), and the RFC 9162 inclusion proof
    of the leaf in it. Whoever holds the receipt holds a signature that an entry removed
    later contradicts.

    ``checkpoint`` is None only from a log built without a signer (tools and tests that hand
    no receipt to anybody); the exchange pipeline's log always has one."""

    index: int
    leaf_hash: bytes
    size: int
    checkpoint: str | None
    inclusion: tuple[bytes, ...]


def leaf_hash(entry_bytes: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry_bytes).digest()
