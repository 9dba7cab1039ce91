"""Tables of usage records, disposal attestations and suspensions of sharing agreements.

``usage_records``: what a consumer department records of its use of data received under one
agreement (使用场景、使用过程、应用成效、存储情况、销毁情况), kept at least until
``retain_until`` (3 years or more, ``usage_record_retention_years``); never changed after filing:
an amendment is a new record that names the one it amends (``amends``).
``disposal_attestations``: the consumer's attestation that the data was disposed of once the
purpose was met or the term ended: what, how, when, who.
``agreement_suspensions``: a suspension of an agreement for misuse by its provider or the data
authority, with reasons and a remedy deadline, then reinstated or terminated. Every change of
this table marks the ``agreements`` domain changed (migration 0032), so the exchange reads its
agreements again and a suspended one releases nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base, str_enum

__all__ = [
    "AgreementSuspension",
    "DisposalAttestation",
    "ServiceChange",
    "SuspensionStatus",
    "UsageRecord",
]


class SuspensionStatus(StrEnum):
    SUSPENDED = "suspended"  # 暂停共享: nothing is released under the agreement
    REINSTATED = "reinstated"  # 已整改, 恢复共享
    TERMINATED = "terminated"  # 终止共享: the remedy deadline passed


class UsageRecord(Base):
    """One usage record (使用记录) of a consumer under one agreement."""

    __tablename__ = "usage_records"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    department: Mapped[str] = mapped_column(String(16))  # the consumer department
    scenario: Mapped[str] = mapped_column(Text)  # 使用场景
    process: Mapped[str] = mapped_column(Text)  # 使用过程
    effect: Mapped[str] = mapped_column(Text)  # 应用成效
    storage: Mapped[str] = mapped_column(Text)  # 存储情况
    disposal: Mapped[str] = mapped_column(Text)  # 销毁情况
    amends: Mapped[str | None] = mapped_column(String(48))  # the record this one amends
    filed_at: Mapped[datetime]
    filed_by: Mapped[str] = mapped_column(String(128))
    retain_until: Mapped[date] = mapped_column(Date)


class DisposalAttestation(Base):
    """The consumer's attestation that data received under an agreement was disposed of."""

    __tablename__ = "disposal_attestations"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    department: Mapped[str] = mapped_column(String(16))
    what: Mapped[str] = mapped_column(Text)  # the data disposed of
    how: Mapped[str] = mapped_column(Text)  # the method (删除、粉碎、消磁 …)
    disposed_on: Mapped[date] = mapped_column(Date)
    who: Mapped[str] = mapped_column(String(200))  # who carried it out
    filed_at: Mapped[datetime]
    filed_by: Mapped[str] = mapped_column(String(128))


class AgreementSuspension(Base):
    """A suspension of one agreement for misuse, and how it ended."""

    __tablename__ = "agreement_suspensions"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    status: Mapped[SuspensionStatus] = mapped_column(str_enum(SuspensionStatus, length=16))
    reasons: Mapped[str] = mapped_column(Text)
    remedy_by: Mapped[date] = mapped_column(Date)  # the last day to remedy, China time
    suspended_at: Mapped[datetime]
    suspended_by: Mapped[str] = mapped_column(String(128))
    suspended_by_role: Mapped[str] = mapped_column(String(24))
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(128))
    ended_note: Mapped[str | None] = mapped_column(Text)


class ServiceChange(Base):
    """A provider's notice that it stops or changes a service (停止或变更共享服务), with the
    fields it concerns, the day it takes effect and the reason; shown to every consumer with an
    agreement on the resource."""

    __tablename__ = "service_changes"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    change: Mapped[str] = mapped_column(String(16))  # "stop" or "change"
    fields: Mapped[list[Any]]  # the fields it concerns (empty: the whole resource)
    effective_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[datetime]
    filed_by: Mapped[str] = mapped_column(String(128))
