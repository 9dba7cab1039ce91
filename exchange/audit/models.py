"""The audit table: append-only; the database itself refuses UPDATE and DELETE."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = ["AuditRecord"]


class AuditRecord(Base):
    """One audit entry (审计记录): its index, its canonical bytes and their leaf hash, plus the
    columns auditors search by (all copied from the entry, none holding personal data)."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_subject", "subject"),
        Index("ix_audit_entries_system_at", "system_id", "recorded_at"),
    )

    index: Mapped[int] = mapped_column(
        "idx", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )  # SQLite numbers rows only through INTEGER PRIMARY KEY
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
