"""Tables of the agreement workflow, on the hub's declarative base.

One ``agreements`` row per application or loaded document; its stored ``status`` is
``pending``, ``approved``, ``refused`` or ``revoked`` (``expired`` is derived from the validity
when read). ``agreement_events`` is its history; ``agreement_usage`` counts uses per China day
for daily quotas.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base, str_enum

__all__ = ["Agreement", "AgreementEvent", "AgreementStatus", "AgreementUsage", "Origin"]


class AgreementStatus(StrEnum):
    PENDING = "pending"  # 待审核
    APPROVED = "approved"  # 已批准
    REFUSED = "refused"  # 不予批准 (with reasons)
    REVOKED = "revoked"  # 已撤销
    EXPIRED = "expired"  # 已到期: approved, and its validity has ended (never stored)


class Origin(StrEnum):
    APPLICATION = "application"  # applied for and decided through the hub
    DOCUMENT = "document"  # signed outside the hub and loaded from a YAML document


class Agreement(Base):
    """A sharing agreement (共享协议) between a consumer system and a provider department."""

    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    origin: Mapped[Origin] = mapped_column(str_enum(Origin, length=16))
    status: Mapped[AgreementStatus] = mapped_column(str_enum(AgreementStatus, length=16))
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), index=True)
    consumer_department: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    provider_department: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"))
    resource_version: Mapped[int]
    fields: Mapped[list[Any]]  # field names applied for (or listed in the document)
    purposes: Mapped[list[Any]]
    legal_basis: Mapped[str] = mapped_column(Text)
    justification: Mapped[str | None] = mapped_column(Text)
    requested_from: Mapped[datetime | None]
    requested_until: Mapped[datetime | None]
    submitted_at: Mapped[datetime]
    submitted_by: Mapped[str] = mapped_column(String(128))
    due_by: Mapped[date | None] = mapped_column(Date)  # last working day to answer
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(128))
    granted: Mapped[dict[str, Any] | None]  # field -> release override, or None for the default
    row_condition: Mapped[dict[str, Any] | None]
    daily_quota: Mapped[int | None]
    requires_consent: Mapped[bool]
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(128))
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    document_digest: Mapped[str | None] = mapped_column(String(64))
    terms: Mapped[str | None] = mapped_column(Text)  # the signed terms (JWS), once approved
    # The 2025 form (《政务数据共享条例》 art. 20-22); all None on an application of the older form
    use: Mapped[dict[str, Any] | None]  # 使用场景、使用范围、共享方式 as applied for (or supplied)
    reply_working_days: Mapped[int | None]  # the reply clock: 1 unconditional, 10 conditional
    materials_notice: Mapped[dict[str, Any] | None]  # the one notice of missing materials
    materials_supplied_at: Mapped[datetime | None]  # when they were supplied: the clock restarts
    extension: Mapped[dict[str, Any] | None]  # the one extension of the reply clock, and its fate
    delivery_due_by: Mapped[date | None] = mapped_column(Date)  # last working day to deliver
    delivery: Mapped[dict[str, Any] | None]  # what stopped the delivery clock: channel, when, who


class AgreementEvent(Base):
    """One step in an agreement's history: who did what, when."""

    __tablename__ = "agreement_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    actor_role: Mapped[str] = mapped_column(String(24))
    actor_department: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]]


class AgreementUsage(Base):
    """How many times an agreement was used on one day (China Standard Time)."""

    __tablename__ = "agreement_usage"

    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int]
