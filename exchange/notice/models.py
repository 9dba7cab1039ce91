"""The table of deferred notices (延迟告知, PIPL art. 18 and 35).

``notice_deferrals``: one request that the notice to a citizen of one access (an audit entry of
kind ``query``, ``verify`` or ``event``) be deferred while secrecy is lawful, with the reason
and the legal basis for auditors, the person who asked, the second person who approved (or
refused) it, and how it ended. The citizen appears as the keyed pseudonym the access entry
holds. The reason's text stays here, for auditors; the log holds only its salted digest.

``notice_standing_deferrals``: a standing deferral declared before any access, for some of a
department's systems and one citizen, over a period (:class:`StandingDeferral`).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base, str_enum

__all__ = ["DeferralStatus", "EndedBy", "NoticeDeferral", "ReasonKind", "StandingDeferral"]


class DeferralStatus(StrEnum):
    REQUESTED = "requested"  # 待审批: asked for, not yet in effect
    ACTIVE = "active"  # 生效中: approved by a second person; the access is hidden
    REFUSED = "refused"  # 未批准: the second person refused; it never took effect
    ENDED = "ended"  # 已结束: its date passed or its event was recorded; the access is shown


class ReasonKind(StrEnum):
    """Why notice may lawfully be deferred: the kinds a citizen is shown, never the details."""

    CRIMINAL_INVESTIGATION = "criminal_investigation"  # 刑事侦查
    ADMINISTRATIVE_INVESTIGATION = "administrative_investigation"  # 行政调查、执法检查
    NATIONAL_SECURITY = "national_security"  # 国家安全
    STATUTORY_SECRECY = "statutory_secrecy"  # 法律、行政法规规定应当保密


class EndedBy(StrEnum):
    DATE = "date"  # its date passed (the notice.deferrals job)
    EVENT = "event"  # its event was recorded by the department


class NoticeDeferral(Base):
    """A deferral of the notice of one access to its citizen."""

    __tablename__ = "notice_deferrals"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    access_index: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), index=True
    )  # the deferred access's index in the audit log
    subject: Mapped[str] = mapped_column(String(64), index=True)  # keyed pseudonym
    system_id: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(16), index=True)
    reason_kind: Mapped[ReasonKind] = mapped_column(str_enum(ReasonKind, length=32))
    reason: Mapped[str] = mapped_column(Text)  # for auditors only
    reason_salt: Mapped[str] = mapped_column(String(32))  # hex; the log holds the digest
    legal_basis: Mapped[str] = mapped_column(Text)
    until: Mapped[date | None]  # China day it ends on, or None: until its event
    until_event: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[DeferralStatus] = mapped_column(str_enum(DeferralStatus, length=16))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[EndedBy | None] = mapped_column(str_enum(EndedBy, length=8))
    event_recorded_by: Mapped[str | None] = mapped_column(String(64))


class StandingDeferral(Base):
    """A standing (pre-declared) deferral (预先声明的延迟告知): every access by *systems* of
    the department about one citizen, from its approval on and from the China day *starts*
    until its end, is hidden from that citizen as soon as it is logged.

    The citizen is the keyed pseudonym the audit log files their accesses under (never the ID
    number); the log's own ``notice`` entries hold only its salted digest (``subject_digest``),
    as they hold only the reason's."""

    __tablename__ = "notice_standing_deferrals"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    department: Mapped[str] = mapped_column(String(16), index=True)
    systems: Mapped[list[Any]]  # the department's system ids it covers, sorted
    subject: Mapped[str] = mapped_column(String(64), index=True)  # keyed pseudonym
    reason_kind: Mapped[ReasonKind] = mapped_column(str_enum(ReasonKind, length=32))
    reason: Mapped[str] = mapped_column(Text)  # for auditors only
    reason_salt: Mapped[str] = mapped_column(String(32))  # hex; the log holds the digests
    legal_basis: Mapped[str] = mapped_column(Text)
    starts: Mapped[date]  # the China day from which accesses are covered
    until: Mapped[date | None]  # China day it ends on, or None: until its event
    until_event: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[DeferralStatus] = mapped_column(str_enum(DeferralStatus, length=16))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[EndedBy | None] = mapped_column(str_enum(EndedBy, length=8))
    event_recorded_by: Mapped[str | None] = mapped_column(String(64))
