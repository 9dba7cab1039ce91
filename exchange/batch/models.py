"""Tables of the batch channel (批量交换), on the hub's declarative base.

``batch_keys``: the public keys a case system registered to receive extracts;
``batch_extracts``: one extract with its signed manifest until it expires (``deleted_at`` once
its chunks are gone); ``batch_chunks``: its chunks, each a compact JWE only the consumer can
decrypt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = ["BatchChunk", "BatchExtract", "BatchKey"]


class BatchKey(Base):
    """A case system's public key for batch extracts (EC P-256 or OKP X25519, ``use`` enc)."""

    __tablename__ = "batch_keys"
    __table_args__ = (UniqueConstraint("system_id", "kid", name="uq_batch_keys_system_kid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"))
    kid: Mapped[str] = mapped_column(String(128))
    jwk: Mapped[dict[str, Any]]
    registered_at: Mapped[datetime]


class BatchExtract(Base):
    """An extract of an agreement's fields for the people the consumer named."""

    __tablename__ = "batch_extracts"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"))
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    kid: Mapped[str] = mapped_column(String(128))
    subjects: Mapped[int]
    chunks: Mapped[int]
    manifest: Mapped[str] = mapped_column(Text)  # the hub's JWS over the manifest
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    deleted_at: Mapped[datetime | None]


class BatchChunk(Base):
    """One chunk of an extract: a compact JWE (ECDH-ES, A256GCM) of JSON lines."""

    __tablename__ = "batch_chunks"

    extract_id: Mapped[str] = mapped_column(ForeignKey("batch_extracts.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    jwe: Mapped[str] = mapped_column(Text)
