"""Tables of disputes between departments (数据共享争议, 《政务数据共享条例》 art. 28).

``disputes``: one dispute that a department (the claimant, 提出方) opens with another (the
respondent, 被申请方) about a sharing matter (an application, an agreement, a correction request
or a catalogue entry), with its statement, the level it has reached and the clock of that level.
``dispute_steps``: its history, one row per step (opened, a position, a settlement proposed or
confirmed, an escalation, a decision, a referral, an outcome), each also an audit-log entry.

Levels, in order: negotiation between the two (协商), the data authority (共享工作主管部门),
the common superior (上级共同主管部门), the government at that level (本级人民政府).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base, str_enum

__all__ = ["Dispute", "DisputeLevel", "DisputeStatus", "DisputeStep", "MatterKind"]


class DisputeLevel(StrEnum):
    NEGOTIATION = "negotiation"  # 协商: between the two departments
    AUTHORITY = "authority"  # 主管部门协调: the data authority
    SUPERIOR = "superior"  # 上级共同主管部门: outside the hub, recorded by the authority
    GOVERNMENT = "government"  # 本级人民政府: outside the hub, recorded by the authority


LEVELS: tuple[DisputeLevel, ...] = tuple(DisputeLevel)
"""The levels in the order a dispute climbs them."""


class DisputeStatus(StrEnum):
    OPEN = "open"  # 处理中, at its level
    SETTLED = "settled"  # 协商一致: a settlement proposed by one and confirmed by the other
    DECIDED = "decided"  # 已协调: the data authority's decision, with reasons
    RESOLVED = "resolved"  # 已决定: the common superior's or the government's outcome


class MatterKind(StrEnum):
    APPLICATION = "application"  # 共享申请: an agreement row applied for through the hub
    AGREEMENT = "agreement"  # 共享协议: an agreement that was approved (or loaded)
    CORRECTION = "correction"  # 校核纠错: a correction request filed by a department
    CATALOGUE_ENTRY = "catalogue_entry"  # 目录: a resource of the catalogue


class Dispute(Base):
    """A dispute between two departments over one sharing matter."""

    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    claimant: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    respondent: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    matter_kind: Mapped[MatterKind] = mapped_column(str_enum(MatterKind, length=24))
    matter_id: Mapped[str] = mapped_column(String(64))
    statement: Mapped[str] = mapped_column(Text)
    status: Mapped[DisputeStatus] = mapped_column(str_enum(DisputeStatus, length=16))
    level: Mapped[DisputeLevel] = mapped_column(str_enum(DisputeLevel, length=16))
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(128))
    level_since: Mapped[datetime]
    due_on: Mapped[date]  # the last working day of the current level's clock, China time
    settlement: Mapped[str | None] = mapped_column(Text)  # proposed terms, awaiting the other
    settlement_by: Mapped[str | None] = mapped_column(String(16))  # the proposing department
    settlement_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)  # settlement, decision or outcome
    reasons: Mapped[str | None] = mapped_column(Text)  # the authority's reasons
    outcome_digest: Mapped[str | None] = mapped_column(String(64))  # SHA-256 hex, outside body


class DisputeStep(Base):
    """One step of a dispute: who did what at which level, when."""

    __tablename__ = "dispute_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dispute_id: Mapped[str] = mapped_column(ForeignKey("disputes.id"), index=True)
    at: Mapped[datetime]
    level: Mapped[DisputeLevel] = mapped_column(str_enum(DisputeLevel, length=16))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    actor_role: Mapped[str] = mapped_column(String(24))
    actor_department: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    document_name: Mapped[str | None] = mapped_column(String(200))
    document_digest: Mapped[str | None] = mapped_column(String(64))  # SHA-256, hex
