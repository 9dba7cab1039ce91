"""Tables of the catalogue review, the update duties and the supply-demand requests.

``catalogue_submissions``: one catalogue entry (a resource descriptor) on its way to the
catalogue: a draft with its two assessments and the department head's sign-off, submitted,
then published or returned with reasons by the data authority; or, with ``route`` bootstrap, a
version the operator loaded at set-up (``tongban catalogue publish``, the demo), recorded as such.
``catalogue_assessments``: the 保密风险 and 个人信息保护影响 assessments of a submission, stored
with their SHA-256. ``catalogue_update_duties``: a duty to update an entry after a change of law
or duties, on its clock, with at most one extension. ``data_demands``: a department's request
for data in no catalogue (供需对接), routed by the authority to a provider who connects it or
refuses with reasons.

Status columns hold the values of the enums below as plain strings (``VARCHAR(16)``); the
services write only those values.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = [
    "AssessmentKind",
    "CatalogueAssessment",
    "CatalogueSubmission",
    "DataDemand",
    "DemandStatus",
    "DutyStatus",
    "ExtensionStatus",
    "PublicationRoute",
    "SubmissionStatus",
    "UpdateDuty",
]


class SubmissionStatus(StrEnum):
    DRAFT = "draft"  # 草稿: assessments and sign-off being gathered
    SUBMITTED = "submitted"  # 待审核: with the data authority, on the review clock
    PUBLISHED = "published"  # 已发布
    RETURNED = "returned"  # 已退回: with the authority's reasons
    WITHDRAWN = "withdrawn"  # 已撤回 by the department before a decision


class PublicationRoute(StrEnum):
    REVIEW = "review"  # submitted by the department, reviewed by the authority
    BOOTSTRAP = "bootstrap"  # loaded by the operator at set-up, without review


class AssessmentKind(StrEnum):
    SECRECY = "secrecy"  # 保密风险评估
    PIA = "pia"  # 个人信息保护影响评估


class DutyStatus(StrEnum):
    OPEN = "open"  # 待更新
    FULFILLED = "fulfilled"  # 已更新: a reviewed version was published


class ExtensionStatus(StrEnum):
    NONE = "none"
    ASKED = "asked"  # 已申请延期
    APPROVED = "approved"  # 延期已同意
    REFUSED = "refused"  # 延期未同意


class DemandStatus(StrEnum):
    FILED = "filed"  # 待分派: with the authority, on the routing clock
    ROUTED = "routed"  # 已分派: with the provider, on the reply clock
    CONNECTED = "connected"  # 已对接: catalogued and linked to a published entry
    REFUSED = "refused"  # 不予提供, with reasons


class CatalogueSubmission(Base):
    """A resource descriptor on its way into the catalogue, or a bootstrap load."""

    __tablename__ = "catalogue_submissions"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(64), index=True)
    provider: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    route: Mapped[str] = mapped_column(String(16))  # a PublicationRoute
    descriptor: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # a SubmissionStatus
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    signed_off_by: Mapped[str | None] = mapped_column(String(128))
    signed_off_at: Mapped[datetime | None]
    signed_digest: Mapped[str | None] = mapped_column(String(64))
    submitted_by: Mapped[str | None] = mapped_column(String(128))
    submitted_at: Mapped[datetime | None]
    review_due_on: Mapped[date | None]
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None]
    reasons: Mapped[str | None] = mapped_column(Text)
    published_version: Mapped[int | None] = mapped_column(Integer)


class CatalogueAssessment(Base):
    """One assessment document of a submission (one of each kind), kept with its digest."""

    __tablename__ = "catalogue_assessments"
    __table_args__ = (UniqueConstraint("submission_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("catalogue_submissions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # an AssessmentKind
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime]


class UpdateDuty(Base):
    """A duty to update a catalogue entry after a change of law or duties, on its clock."""

    __tablename__ = "catalogue_update_duties"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(64), index=True)
    provider: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(128))
    opened_role: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    due_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16))  # a DutyStatus
    extension: Mapped[str] = mapped_column(String(16))  # an ExtensionStatus
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_asked_at: Mapped[datetime | None]
    extension_decided_by: Mapped[str | None] = mapped_column(String(128))
    extension_decided_at: Mapped[datetime | None]
    extension_reasons: Mapped[str | None] = mapped_column(Text)
    fulfilled_at: Mapped[datetime | None]
    fulfilled_version: Mapped[int | None] = mapped_column(Integer)


class DataDemand(Base):
    """A department's request for data that is in no catalogue yet (供需对接)."""

    __tablename__ = "data_demands"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    requester: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    requested_by: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    wanted: Mapped[str] = mapped_column(Text)  # the data items asked for, in words
    basis: Mapped[str] = mapped_column(Text)  # 使用依据
    scenario: Mapped[str] = mapped_column(Text)  # 使用场景
    scope: Mapped[str] = mapped_column(Text)  # 使用范围
    method: Mapped[str] = mapped_column(String(16))  # 共享方式
    term_until: Mapped[date]  # 使用时限
    status: Mapped[str] = mapped_column(String(16))  # a DemandStatus
    filed_at: Mapped[datetime]
    route_due_on: Mapped[date]
    provider: Mapped[str | None] = mapped_column(ForeignKey("departments.code"), index=True)
    routed_by: Mapped[str | None] = mapped_column(String(128))
    routed_at: Mapped[datetime | None]
    route_note: Mapped[str | None] = mapped_column(Text)
    reply_due_on: Mapped[date | None]
    replied_by: Mapped[str | None] = mapped_column(String(128))
    replied_at: Mapped[datetime | None]
    reasons: Mapped[str | None] = mapped_column(Text)
    resource_code: Mapped[str | None] = mapped_column(String(64))
