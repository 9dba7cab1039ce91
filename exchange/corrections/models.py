"""Tables of correction requests (校核纠错, 异议) and the notices they send.

``corrections``: one request that an attribute of one person is wrong at its source department
(数源部门), who filed it (a case system, a consumer department's staff, or the citizen), the
request it cites, the evidence, the clock and the answer. The person appears as the keyed
pseudonym the audit log uses; the resident ID number the source department needs to find the
record is kept only sealed (AES-256-GCM; SM4-GCM under ``gm``; ``subject_sealed``). No value
is ever stored: only the hub's keyed fingerprints of the value before and after
(``old_fingerprint``, ``new_fingerprint``; HMAC-SHA-256, HMAC-SM3 under ``gm``).

``correction_notices``: one per system that received the attribute for that person before it
was corrected, delivered through the system's inbox and acknowledged by it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base, str_enum

__all__ = [
    "Correction",
    "CorrectionNotice",
    "CorrectionStatus",
    "FiledBy",
    "NoticeStatus",
]


class CorrectionStatus(StrEnum):
    OPEN = "open"  # 处理中: the source department has not answered
    CORRECTED = "corrected"  # 已更正: corrected at the source
    REJECTED = "rejected"  # 不予更正: refused, with reasons


class FiledBy(StrEnum):
    SYSTEM = "system"  # a case system, with its hub access token
    STAFF = "staff"  # a consumer department's staff member
    CITIZEN = "citizen"  # the person the data is about (异议)


class NoticeStatus(StrEnum):
    PENDING = "pending"  # not yet fetched
    DELIVERED = "delivered"  # fetched at least once, not acknowledged
    ACKNOWLEDGED = "acknowledged"


class Correction(Base):
    """A correction request on one attribute of one person."""

    __tablename__ = "corrections"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)  # keyed pseudonym
    subject_sealed: Mapped[bytes] = mapped_column(LargeBinary)  # nonce ‖ AEAD(ID number) ‖ tag
    attribute: Mapped[str] = mapped_column(String(104))
    resource: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    filed_by: Mapped[FiledBy] = mapped_column(str_enum(FiledBy, length=16))
    filer: Mapped[str] = mapped_column(String(64))  # system id, staff id, or "citizen"
    filer_department: Mapped[str | None] = mapped_column(String(16))
    cited_request: Mapped[str | None] = mapped_column(String(36))
    evidence: Mapped[str] = mapped_column(Text)
    status: Mapped[CorrectionStatus] = mapped_column(str_enum(CorrectionStatus, length=16))
    filed_at: Mapped[datetime]
    due_on: Mapped[date]  # the last working day of the clock, China time
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)  # a refusal's reasons, or a note
    old_fingerprint: Mapped[str | None] = mapped_column(String(44))
    new_fingerprint: Mapped[str | None] = mapped_column(String(44))


class CorrectionNotice(Base):
    """A correction notice owed to one system that received the old value."""

    __tablename__ = "correction_notices"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    correction_id: Mapped[str] = mapped_column(ForeignKey("corrections.id"), index=True)
    system_id: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(64))  # of the newest request that received it
    received_in: Mapped[list[Any]]  # request ids (audit entries) the old value left in
    status: Mapped[NoticeStatus] = mapped_column(str_enum(NoticeStatus, length=16))
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
