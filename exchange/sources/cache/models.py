"""Tables of the source cache: per-department data keys, sealed records, sync state.

Nothing here holds a subject's ID number or a field value in clear: a record's subject is a
keyed MAC of (resource, ID number), its fields are one AEAD ciphertext (AES-256-GCM; SM4-GCM
under ``gm``), and the data key that sealed it is stored wrapped under the hub's master
key-encryption key (``crypto``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base, str_enum

__all__ = ["CacheDataKey", "CacheRecord", "CacheSyncState", "SyncStatus"]


class SyncStatus(StrEnum):
    """Where a cached resource's sync stands."""

    NEW = "new"  # its state row was just made; the first run is beginning
    RUNNING = "running"  # a run began and has not ended (or its worker died; the next takes over)
    OK = "ok"  # the last run committed
    FAILED = "failed"  # the last run failed; ``last_error`` says why


class CacheDataKey(Base):
    """A provider department's data key, version by version, wrapped (nonce ‖ ciphertext)."""

    __tablename__ = "cache_data_keys"

    department: Mapped[str] = mapped_column(ForeignKey("departments.code"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class CacheRecord(Base):
    """One cached source record: ``seq`` numbers a subject's records (0 when one per subject);
    ``sealed`` is nonce ‖ AEAD(fields JSON) ‖ tag with the row's identity as associated
    data; ``content_mac`` lets a snapshot see an unchanged record without decrypting it."""

    __tablename__ = "cache_records"

    resource: Mapped[str] = mapped_column(ForeignKey("resources.code"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key_version: Mapped[int]
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    content_mac: Mapped[str] = mapped_column(String(64))
    watermark: Mapped[str | None] = mapped_column(String(64))
    synced_at: Mapped[datetime]


class CacheSyncState(Base):
    """Where a cached resource's sync stands: the committed watermark (written in the same
    transaction as the rows it covers), the as-of time of the last success, the last outcome."""

    __tablename__ = "cache_sync_state"

    resource: Mapped[str] = mapped_column(ForeignKey("resources.code"), primary_key=True)
    department: Mapped[str] = mapped_column(String(16))
    strategy: Mapped[str] = mapped_column(String(16))
    fields: Mapped[list[Any]]
    watermark: Mapped[str | None] = mapped_column(String(64))
    last_success_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    rows: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[SyncStatus] = mapped_column(str_enum(SyncStatus, length=16))
    last_error: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(36))  # the run that may write now
