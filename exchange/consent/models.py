"""Tables of citizen consent (单独同意, PIPL art. 14 and 29).

``consent_requests``: what a case system asked a citizen for, with the preview the citizen saw
(fields, providers, purpose, mode, validity, retention), and the answer. ``consents``: the
artefacts a citizen gave; a change makes a new row that supersedes the old one (``version`` + 1).
``consent_events``: each consent's history (given, used, revoked, expired, superseded). A
citizen appears only as the keyed pseudonym the audit log uses, never as an ID number.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base, str_enum

__all__ = [
    "Consent",
    "ConsentEvent",
    "ConsentMode",
    "ConsentRequest",
    "ConsentStatus",
    "RequestStatus",
]


class RequestStatus(StrEnum):
    PENDING = "pending"  # 待确认
    APPROVED = "approved"  # 已同意: a consent was given
    REFUSED = "refused"  # 已拒绝
    EXPIRED = "expired"  # not answered in time (derived when read, stored by the sweep)


class ConsentStatus(StrEnum):
    GIVEN = "given"  # 有效
    USED = "used"  # 已用尽: every allowed use was made
    REVOKED = "revoked"  # 已撤回
    EXPIRED = "expired"  # 已过期 (derived when read, stored by the sweep)
    SUPERSEDED = "superseded"  # 已变更: a newer version replaced it


class ConsentMode(StrEnum):
    ONE_TIME = "one_time"  # 单次: used up by the first query that relies on it
    STANDING = "standing"  # 持续: until it expires, is revoked or its uses run out


class ConsentRequest(Base):
    """A case system's request for a citizen's consent, and the preview shown to the citizen."""

    __tablename__ = "consent_requests"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)  # keyed pseudonym
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), index=True)
    consumer_department: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    officer: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    purpose_text: Mapped[str] = mapped_column(Text)
    service_item: Mapped[str | None] = mapped_column(String(64))
    legal_basis: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[Any]]  # the preview: one object per field (see consent.preview)
    mode: Mapped[ConsentMode] = mapped_column(str_enum(ConsentMode, length=16))
    valid_days: Mapped[int]
    max_uses: Mapped[int | None]
    retention_days: Mapped[int]
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, length=16))
    created_at: Mapped[datetime]
    answer_by: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    consent_id: Mapped[str | None] = mapped_column(String(48))


class Consent(Base):
    """A consent artefact (ISO/IEC 27560 record, Kantara receipt fields)."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    version: Mapped[int]
    supersedes: Mapped[str | None] = mapped_column(ForeignKey("consents.id"))
    superseded_by: Mapped[str | None] = mapped_column(String(48))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("consent_requests.id"))
    subject: Mapped[str] = mapped_column(String(64), index=True)  # keyed pseudonym
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), index=True)
    consumer_department: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    providers: Mapped[list[Any]]  # department codes
    purpose: Mapped[str] = mapped_column(String(64))
    purpose_text: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[Any]]  # one object per field, ``necessary`` true or false
    mode: Mapped[ConsentMode] = mapped_column(str_enum(ConsentMode, length=16))
    starts_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    max_uses: Mapped[int | None]
    use_count: Mapped[int]
    last_used_at: Mapped[datetime | None]
    retention_days: Mapped[int]
    status: Mapped[ConsentStatus] = mapped_column(str_enum(ConsentStatus, length=16))
    status_at: Mapped[datetime]
    receipt: Mapped[str] = mapped_column(Text)  # the signed receipt (JWS) given to the citizen


class ConsentEvent(Base):
    """One step in a consent's history."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))  # "citizen", a system id, or "hub"
    detail: Mapped[dict[str, Any]]
