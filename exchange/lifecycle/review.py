"""Catalogue entries reviewed before publication (《政务数据共享条例》 art. 13-15).

A department's entry, in this order (each step refused, nothing stored, unless its checks pass):

1. **draft** (department admin of the provider): the descriptor passes every descriptor check,
   the review's completeness rules (:mod:`catalogue.completeness`: grading, a conditional entry's
   scope and uses, a not-shared field's structured legal citation) and the registry's
   (:func:`catalogue.publishing.check_publishable`: provider, namespace, not deprecated,
   一数一源); the entry has no other open submission;
2. **assessments** (department admin): the 保密风险 (``secrecy``) and 个人信息保护影响 (``pia``)
   assessments, each a PDF, OFD or DOCX document stored with its SHA-256; replacing one after
   the sign-off voids the sign-off;
3. **sign-off** (department head of the provider): only with both assessments attached; it
   covers the descriptor's digest and both documents' digests;
4. **submit** (department admin): everything above present and the sign-off still covering
   what is there; the review clock starts (``catalogue_review_working_days``, 2 nationally);
5. **review** (data authority, never of the provider's own department): publish (the version
   is made as any publication is, and an open update duty of the entry is fulfilled) or return
   with reasons. A review after its clock is still taken (the entry must not stay unpublished
   for the authority's lateness); the clock shows it overdue until then.

A version the operator loads at set-up (``tongban catalogue publish``, the demo) is recorded as
a ``bootstrap`` submission, published, with its own audit event (:func:`record_bootstrap`).
Every step is an audit entry (kind ``catalogue``) in the same transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.completeness import review_gaps
from catalogue.descriptors import Descriptor, check_descriptor
from catalogue.models import Resource
from catalogue.publishing import PublishOutcome, check_publishable, publish
from catalogue.vocabulary import DescriptorKind
from exchange.audit.lifecycle import hold_log
from exchange.errors import Forbidden
from exchange.lifecycle.audit import Actor, log_catalogue_event
from exchange.lifecycle.clocks import Clocks, due_after
from exchange.lifecycle.errors import (
    ConditionalScopeRequired,
    GradingRequired,
    InvalidAssessment,
    LegalCitationRequired,
    ReasonsRequired,
    ReviewerOwnDepartment,
    SubmissionIncomplete,
    SubmissionNotFound,
    SubmissionNotPending,
    SubmissionOpen,
)
from exchange.lifecycle.models import (
    AssessmentKind,
    CatalogueAssessment,
    CatalogueSubmission,
    DutyStatus,
    PublicationRoute,
    SubmissionStatus,
    UpdateDuty,
)
from schemas import ProblemDetail, TongbanError

__all__ = [
    "ADMIN",
    "ASSESSMENT_TYPES",
    "AUTHORITY",
    "HEAD",
    "OPERATOR",
    "attach_assessment",
    "draft_submission",
    "record_bootstrap",
    "review_submission",
    "sign_off",
    "submit",
    "visible_submission",
    "withdraw",
]

ADMIN = "department_admin"
HEAD = "department_head"
AUTHORITY = "data_authority"
OPERATOR = "operator"

ASSESSMENT_TYPES = {
    "application/pdf": (b"%PDF-",),
    "application/ofd": (b"PK\x03\x04",),  # OFD (GB/T 33190) is a ZIP package
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
}
"""The media types an assessment may be, with the bytes such a document starts with."""

_GAP_ERRORS: dict[str, type[TongbanError]] = {
    "grading_required": GradingRequired,
    "conditional_scope_required": ConditionalScopeRequired,
    "legal_citation_required": LegalCitationRequired,
}
_OPEN = (SubmissionStatus.DRAFT.value, SubmissionStatus.SUBMITTED.value)


def require(actor: Actor, role: str, department: str) -> None:
    """Refuse unless *actor* has *role* in *department*."""
    if actor.role != role or actor.department != department:
        raise Forbidden(f"only a {role} of department {department} may do this")


def draft_submission(
    session: Session, actor: Actor, descriptor: Descriptor, now: datetime
) -> CatalogueSubmission:
    """Step 1: a draft of *descriptor* by an admin of its provider (module docstring)."""
    if descriptor.kind is not DescriptorKind.RESOURCE:
        raise Forbidden("only resource descriptors are reviewed")
    content = descriptor.content
    require(actor, ADMIN, str(content["provider"]))
    existing = session.get(Resource, descriptor.code)
    if existing is not None:
        require(actor, ADMIN, existing.provider_code)
    _require_complete(content)
    check_publishable(session, descriptor)
    hold_log(session)
    open_one = session.scalar(
        select(CatalogueSubmission.id).where(
            CatalogueSubmission.resource_code == descriptor.code,
            CatalogueSubmission.status.in_(_OPEN),
        )
    )
    if open_one is not None:
        raise SubmissionOpen(f"entry {descriptor.code} already has open submission {open_one}")
    row = CatalogueSubmission(
        id=f"sub-{uuid.uuid4()}",
        resource_code=descriptor.code,
        provider=str(content["provider"]),
        route=PublicationRoute.REVIEW.value,
        descriptor=dict(content),
        digest=descriptor.digest,
        status=SubmissionStatus.DRAFT.value,
        created_by=actor.subject,
        created_at=now,
    )
    session.add(row)
    session.flush()
    _log(session, actor, row, "drafted", digest=row.digest)
    return row


def _require_complete(content: Any) -> None:
    gaps = review_gaps(content)
    if gaps:
        error = _GAP_ERRORS[gaps[0].code]
        raise error(
            "the entry lacks what a submission for review must state",
            errors=[gap.problem for gap in gaps],
        )


def attach_assessment(
    session: Session,
    actor: Actor,
    submission_id: str,
    kind: AssessmentKind,
    *,
    filename: str,
    media_type: str,
    data: bytes,
    now: datetime,
) -> CatalogueAssessment:
    """Step 2: attach (or replace) one assessment of a draft; a replacement voids the
    sign-off."""
    media_type = document_type(media_type, filename)
    _check_document(media_type, data)
    hold_log(session)
    row = _submission(session, actor, submission_id, lock=True)
    require(actor, ADMIN, row.provider)
    _require_status(row, SubmissionStatus.DRAFT, "attach assessments to")
    digest = hashlib.sha256(data).hexdigest()
    document = session.scalar(
        select(CatalogueAssessment).where(
            CatalogueAssessment.submission_id == row.id, CatalogueAssessment.kind == kind.value
        )
    )
    if document is None:
        document = CatalogueAssessment(submission_id=row.id, kind=kind.value)
        session.add(document)
    document.filename = filename
    document.media_type = media_type
    document.size = len(data)
    document.sha256 = digest
    document.content = data
    document.uploaded_by = actor.subject
    document.uploaded_at = now
    row.signed_off_by = row.signed_off_at = row.signed_digest = None
    session.flush()
    _log(session, actor, row, "attached", digest=digest, assessment=kind.value)
    return document


_SUFFIXES = {
    ".pdf": "application/pdf",
    ".ofd": "application/ofd",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def document_type(media_type: str, filename: str) -> str:
    """The media type an assessment is kept as: the one it was sent with, or for
    ``application/octet-stream`` the one its file name's suffix says (``.pdf``, ``.ofd``,
    ``.docx``); anything else stays as sent and is refused by the checks."""
    if media_type != "application/octet-stream":
        return media_type
    suffix = filename[filename.rfind(".") :].lower() if "." in filename else ""
    return _SUFFIXES.get(suffix, media_type)


def _check_document(media_type: str, data: bytes) -> None:
    if not data:
        raise InvalidAssessment("the assessment document is empty")
    starts = ASSESSMENT_TYPES.get(media_type)
    if starts is None:
        kinds = ", ".join(sorted(ASSESSMENT_TYPES))
        raise InvalidAssessment(f"an assessment is one of: {kinds}")
    if not data.startswith(starts):
        raise InvalidAssessment(f"the document is not a {media_type} document")


def sign_off(
    session: Session, actor: Actor, submission_id: str, now: datetime
) -> CatalogueSubmission:
    """Step 3: the department head signs off a draft with both assessments attached."""
    hold_log(session)
    row = _submission(session, actor, submission_id, lock=True)
    require(actor, HEAD, row.provider)
    _require_status(row, SubmissionStatus.DRAFT, "sign off")
    documents = assessments_of(session, row.id)
    missing = _missing_assessments(documents)
    if missing:
        raise SubmissionIncomplete("attach both assessments before the sign-off", errors=missing)
    row.signed_off_by = actor.subject
    row.signed_off_at = now
    row.signed_digest = signed_digest(row, documents)
    session.flush()
    _log(session, actor, row, "signed_off", digest=row.signed_digest)
    return row


def submit(
    session: Session, actor: Actor, submission_id: str, now: datetime, clocks: Clocks
) -> CatalogueSubmission:
    """Step 4: submit a complete, signed-off draft; the review clock starts."""
    hold_log(session)
    row = _submission(session, actor, submission_id, lock=True)
    require(actor, ADMIN, row.provider)
    _require_status(row, SubmissionStatus.DRAFT, "submit")
    documents = assessments_of(session, row.id)
    missing = _missing_assessments(documents)
    if row.signed_digest is None or row.signed_digest != signed_digest(row, documents):
        detail = "the department head signs off the entry and its assessments (部门负责人审核)"
        missing.append(ProblemDetail(pointer="/sign_off", detail=detail))
    if missing:
        raise SubmissionIncomplete("the submission is not complete", errors=missing)
    row.status = SubmissionStatus.SUBMITTED.value
    row.submitted_by = actor.subject
    row.submitted_at = now
    row.review_due_on = due_after(now, clocks.review)
    session.flush()
    _log(session, actor, row, "submitted", digest=row.digest, due_on=row.review_due_on)
    return row


def withdraw(
    session: Session, actor: Actor, submission_id: str, now: datetime
) -> CatalogueSubmission:
    """The department withdraws a draft or a submission not yet decided."""
    hold_log(session)
    row = _submission(session, actor, submission_id, lock=True)
    require(actor, ADMIN, row.provider)
    if row.status not in _OPEN:
        raise SubmissionNotPending(f"submission {row.id} is {row.status}; it cannot be withdrawn")
    row.status = SubmissionStatus.WITHDRAWN.value
    row.decided_at = now
    row.decided_by = actor.subject
    session.flush()
    _log(session, actor, row, "withdrawn")
    return row


def review_submission(
    session: Session,
    actor: Actor,
    submission_id: str,
    *,
    publish_it: bool,
    reasons: str | None,
    now: datetime,
) -> CatalogueSubmission:
    """Step 5: the data authority publishes a submitted entry or returns it with reasons."""
    if actor.role != AUTHORITY:
        raise Forbidden("only the data authority reviews catalogue entries")
    hold_log(session)
    row = _submission(session, actor, submission_id, lock=True)
    if actor.department is not None and actor.department == row.provider:
        raise ReviewerOwnDepartment(
            f"entry {row.resource_code} is your own department's ({row.provider})"
        )
    _require_status(row, SubmissionStatus.SUBMITTED, "review")
    if not publish_it and not reasons:
        raise ReasonsRequired("a returned entry gives the department its reasons")
    row.decided_by = actor.subject
    row.decided_at = now
    row.reasons = reasons
    if not publish_it:
        row.status = SubmissionStatus.RETURNED.value
        session.flush()
        _log(session, actor, row, "returned")
        return row
    outcome = publish(
        session, check_descriptor(row.descriptor), by=f"review:{actor.subject}"[:128], now=now
    )
    row.status = SubmissionStatus.PUBLISHED.value
    row.published_version = outcome.version
    session.flush()
    _log(session, actor, row, "published", version=outcome.version)
    _fulfil_duty(session, actor, row, now)
    return row


def _fulfil_duty(session: Session, actor: Actor, row: CatalogueSubmission, now: datetime) -> None:
    duty = session.scalar(
        select(UpdateDuty)
        .where(
            UpdateDuty.resource_code == row.resource_code,
            UpdateDuty.status == DutyStatus.OPEN.value,
        )
        .with_for_update()
    )
    if duty is None:
        return
    duty.status = DutyStatus.FULFILLED.value
    duty.fulfilled_at = now
    duty.fulfilled_version = row.published_version
    session.flush()
    log_catalogue_event(
        session,
        actor,
        type_="update_duty",
        object_id=duty.id,
        resource=duty.resource_code,
        provider=duty.provider,
        event="duty_fulfilled",
        status_after=duty.status,
        version=row.published_version,
    )


def record_bootstrap(
    session: Session,
    descriptors: Iterable[Descriptor],
    outcomes: Sequence[PublishOutcome],
    *,
    by: str,
    now: datetime,
) -> int:
    """Record each new resource version of an operator's set-up load as a ``bootstrap``
    submission, published, with its audit event; the number recorded."""
    made = {
        o.code: o.version
        for o in outcomes
        if o.created and o.kind is DescriptorKind.RESOURCE and o.version
    }
    actor = Actor(by, OPERATOR, None)
    recorded = 0
    for descriptor in descriptors:
        version = made.get(descriptor.code)
        if descriptor.kind is not DescriptorKind.RESOURCE or version is None:
            continue
        if not recorded:
            hold_log(session)
        row = CatalogueSubmission(
            id=f"sub-{uuid.uuid4()}",
            resource_code=descriptor.code,
            provider=str(descriptor.content["provider"]),
            route=PublicationRoute.BOOTSTRAP.value,
            descriptor=dict(descriptor.content),
            digest=descriptor.digest,
            status=SubmissionStatus.PUBLISHED.value,
            created_by=by,
            created_at=now,
            decided_by=by,
            decided_at=now,
            published_version=version,
        )
        session.add(row)
        session.flush()
        _log(session, actor, row, "bootstrapped", digest=row.digest, version=version)
        recorded += 1
    return recorded


def assessments_of(session: Session, submission_id: str) -> list[CatalogueAssessment]:
    return list(
        session.scalars(
            select(CatalogueAssessment)
            .where(CatalogueAssessment.submission_id == submission_id)
            .order_by(CatalogueAssessment.kind)
        )
    )


def signed_digest(row: CatalogueSubmission, documents: Sequence[CatalogueAssessment]) -> str:
    """What the sign-off covers: SHA-256 over the descriptor's digest and each assessment's."""
    parts = [row.digest, *(f"{d.kind}:{d.sha256}" for d in sorted(documents, key=_kind))]
    return hashlib.sha256("\n".join(parts).encode("ascii")).hexdigest()


def _kind(document: CatalogueAssessment) -> str:
    return document.kind


def _missing_assessments(documents: Sequence[CatalogueAssessment]) -> list[ProblemDetail]:
    present = {d.kind for d in documents}
    words = {
        AssessmentKind.SECRECY.value: "the secrecy risk assessment (保密风险评估)",
        AssessmentKind.PIA.value: "the personal information protection impact assessment "
        "(个人信息保护影响评估)",
    }
    return [
        ProblemDetail(pointer=f"/assessments/{kind}", detail=f"attach {words[kind]}")
        for kind in (AssessmentKind.SECRECY.value, AssessmentKind.PIA.value)
        if kind not in present
    ]


def visible_submission(session: Session, actor: Actor, submission_id: str) -> CatalogueSubmission:
    """A submission the actor may see: the data authority sees all, a department's staff
    their own department's; any other is not found."""
    return _submission(session, actor, submission_id, lock=False)


def _submission(
    session: Session, actor: Actor, submission_id: str, *, lock: bool
) -> CatalogueSubmission:
    row = session.get(CatalogueSubmission, submission_id, with_for_update=lock)
    if row is None or not may_see(actor, row.provider):
        raise SubmissionNotFound(f"no catalogue submission {submission_id}")
    return row


def may_see(actor: Actor, department: str) -> bool:
    """The data authority sees every department's lifecycle; staff their own department's."""
    return actor.role == AUTHORITY or (
        actor.role in (ADMIN, HEAD) and actor.department == department
    )


def _require_status(row: CatalogueSubmission, status: SubmissionStatus, step: str) -> None:
    if row.status != status.value:
        raise SubmissionNotPending(
            f"submission {row.id} is {row.status}; only a {status.value} one can {step}"
        )


def _log(
    session: Session, actor: Actor, row: CatalogueSubmission, event: str, **extra: Any
) -> None:
    log_catalogue_event(
        session,
        actor,
        type_="submission",
        object_id=row.id,
        resource=row.resource_code,
        provider=row.provider,
        event=event,
        status_after=row.status,
        **extra,
    )
