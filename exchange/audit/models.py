"""The audit table: append-only; the database itself refuses UPDATE and DELETE."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = [
    "AuditCheckpoint",
    "AuditCosignature",
    "AuditHead",
    "AuditNode",
    "AuditRecord",
    "AuditWitness",
]


class AuditRecord(Base):
    """One audit entry (审计记录): its index, its canonical bytes and their leaf hash, plus the
    columns auditors search by (all copied from the entry, none holding personal data)."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_subject", "subject"),
        Index("ix_audit_entries_system_at", "system_id", "recorded_at"),
        Index("ix_audit_entries_object", "object_id", "idx"),
    )

    index: Mapped[int] = mapped_column(
        "idx", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )  # the leaf index, 0-based, assigned under the head row's lock
    request_id: Mapped[str] = mapped_column(String(36), unique=True)
    recorded_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))
    system_id: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64))  # keyed pseudonym, never the ID number
    purpose: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    entry: Mapped[str] = mapped_column(Text)  # RFC 8785 canonical JSON
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The consent or agreement a lifecycle entry is about (its ``object.id``), else NULL:
    # filled from the entry itself as it is inserted, so the log's writer needs no change.
    object_id: Mapped[str | None] = mapped_column(String(48), default=lambda c: _object_id(c))


def _object_id(context: Any) -> str | None:
    """The ``object.id`` of the entry being inserted (a lifecycle entry), else None."""
    text = context.get_current_parameters().get("entry")
    if not isinstance(text, str) or '"object":' not in text:
        return None
    member = json.loads(text).get("object")
    found = member.get("id") if isinstance(member, dict) else None
    return found if isinstance(found, str) else None


class AuditNode(Base):
    """The hash of one complete subtree of the log: level L, index i covers the leaves
    [i·2^L, (i+1)·2^L); level 0 holds the leaf hashes."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column("idx", BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(Base):
    """The committed size and root of the log (one row, id 1); its row lock orders batches."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    updated_at: Mapped[datetime]


class AuditCheckpoint(Base):
    """A signed checkpoint (C2SP tlog-checkpoint); every one the hub signed is kept."""

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime]


class AuditCosignature(Base):
    """A witness's cosignature (C2SP tlog-cosignature) on the checkpoint of one size, kept as the
    signature line the witness returned; verifiable by anyone with the witness's key."""

    __tablename__ = "audit_cosignatures"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    cosigner: Mapped[str] = mapped_column(String(128), primary_key=True)  # the key's name
    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)  # hex
    timestamp: Mapped[int] = mapped_column(BigInteger)  # POSIX seconds, as signed
    line: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]


class AuditWitness(Base):
    """What the hub knows of one witness of its policy: the size it last cosigned and how the
    last submission went (the reason is the hub's own words, never the witness's body)."""

    __tablename__ = "audit_witnesses"

    cosigner: Mapped[str] = mapped_column(String(128), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    url: Mapped[str] = mapped_column(String(512))
    cosigned_size: Mapped[int] = mapped_column(BigInteger, default=0)
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))


# The subject map (exchange.audit.vmap, exchange.audit.vmap_store). Its key columns are
# VARBINARY on MySQL and MariaDB, where a BLOB cannot be part of a key without a prefix length.
from sqlalchemy import VARBINARY  # noqa: E402 - imported with the tables appended here

_MAP_BYTES = LargeBinary(32).with_variant(VARBINARY(32), "mysql", "mariadb")


class AuditMapNode(Base):
    """One node of the subject map as it became at one version (the log's size after the batch
    that wrote it): written once, never changed. The node at a version V is the row of its
    position with the largest version ≤ V; a position with no such row was empty then. A leaf
    holds its key and value hash, an inner node its children's hashes."""

    __tablename__ = "audit_map_nodes"

    depth: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    prefix: Mapped[bytes] = mapped_column(_MAP_BYTES, primary_key=True)  # ⌈depth/8⌉ bytes
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(_MAP_BYTES)
    leaf_key: Mapped[bytes | None] = mapped_column(_MAP_BYTES)  # a leaf's key, else NULL
    leaf_value: Mapped[bytes | None] = mapped_column(_MAP_BYTES)  # a leaf's value hash
    left_hash: Mapped[bytes | None] = mapped_column(_MAP_BYTES)  # an inner node's children
    right_hash: Mapped[bytes | None] = mapped_column(_MAP_BYTES)


class AuditMapValue(Base):
    """What the subject map holds now of one subject, by map key (a hash of the pseudonym): how
    many entries, their chain, the last entry's index and the version that last changed it."""

    __tablename__ = "audit_map_values"

    map_key: Mapped[bytes] = mapped_column(_MAP_BYTES, primary_key=True)
    entry_count: Mapped[int] = mapped_column(BigInteger)
    chain: Mapped[bytes] = mapped_column(_MAP_BYTES)
    last_index: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)


__all__ += ["AuditMapNode", "AuditMapValue"]
