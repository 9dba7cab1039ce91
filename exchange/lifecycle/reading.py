"""Views of submissions, update duties and supply-demand requests, with their clocks, as the
API, the console and the CLI show them. Lists are scoped to what the reader may see: the data
authority everything, a department's staff their own department's (its requests: those it
filed and those routed to it); the operator's CLI reads everything (metadata, no documents)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from exchange.agreements.workdays import china_day
from exchange.lifecycle.audit import Actor, steps_of
from exchange.lifecycle.clocks import clock_view
from exchange.lifecycle.models import (
    CatalogueAssessment,
    CatalogueSubmission,
    DataDemand,
    DemandStatus,
    DutyStatus,
    SubmissionStatus,
    UpdateDuty,
)
from exchange.lifecycle.review import AUTHORITY, assessments_of

__all__ = [
    "demand_view",
    "demands",
    "duties",
    "duty_view",
    "submission_view",
    "submissions",
]

LIMIT = 200


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def submission_view(
    session: Session, row: CatalogueSubmission, now: datetime, *, steps: bool = False
) -> dict[str, Any]:
    waiting = row.status == SubmissionStatus.SUBMITTED.value
    view: dict[str, Any] = {
        "id": row.id,
        "resource": row.resource_code,
        "name": row.descriptor.get("name"),
        "provider": row.provider,
        "route": row.route,
        "status": row.status,
        "digest": row.digest,
        "created_by": row.created_by,
        "created_at": _when(row.created_at),
        "assessments": [_assessment(d) for d in assessments_of(session, row.id)],
        "signed_off_by": row.signed_off_by,
        "signed_off_at": _when(row.signed_off_at),
        "submitted_at": _when(row.submitted_at),
        "review": clock_view(row.review_due_on, now, stopped=not waiting),
        "decided_by": row.decided_by,
        "decided_at": _when(row.decided_at),
        "reasons": row.reasons,
        "published_version": row.published_version,
    }
    if steps:
        view["descriptor"] = row.descriptor
        view["steps"] = [s.as_dict() for s in steps_of(session, row.id)]
    return view


def _assessment(document: CatalogueAssessment) -> dict[str, Any]:
    return {
        "kind": document.kind,
        "filename": document.filename,
        "media_type": document.media_type,
        "size": document.size,
        "sha256": document.sha256,
        "uploaded_by": document.uploaded_by,
        "uploaded_at": _when(document.uploaded_at),
    }


def submissions(
    session: Session,
    reader: Actor | None,
    now: datetime,
    *,
    status: str | None = None,
    overdue: bool = False,
) -> list[dict[str, Any]]:
    """Submissions the reader may see, newest first; *overdue*: under review past the clock."""
    query = select(CatalogueSubmission).order_by(CatalogueSubmission.created_at.desc())
    query = _scoped(query, reader, CatalogueSubmission.provider)
    if status is not None:
        query = query.where(CatalogueSubmission.status == status)
    views = [submission_view(session, row, now) for row in session.scalars(query.limit(LIMIT))]
    return [v for v in views if v["review"]["overdue"]] if overdue else views


def duty_view(
    session: Session, duty: UpdateDuty, now: datetime, *, steps: bool = False
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": duty.id,
        "resource": duty.resource_code,
        "provider": duty.provider,
        "reason": duty.reason,
        "opened_by": duty.opened_by,
        "opened_role": duty.opened_role,
        "opened_at": _when(duty.opened_at),
        "status": duty.status,
        "clock": clock_view(duty.due_on, now, stopped=duty.status != DutyStatus.OPEN.value),
        "extension": {
            "status": duty.extension,
            "reason": duty.extension_reason,
            "asked_at": _when(duty.extension_asked_at),
            "decided_by": duty.extension_decided_by,
            "decided_at": _when(duty.extension_decided_at),
            "reasons": duty.extension_reasons,
        },
        "fulfilled_at": _when(duty.fulfilled_at),
        "fulfilled_version": duty.fulfilled_version,
        "late": duty.fulfilled_at is not None and china_day(duty.fulfilled_at) > duty.due_on,
    }
    if steps:
        view["steps"] = [s.as_dict() for s in steps_of(session, duty.id)]
    return view


def duties(
    session: Session,
    reader: Actor | None,
    now: datetime,
    *,
    status: str | None = None,
    overdue: bool = False,
) -> list[dict[str, Any]]:
    query = select(UpdateDuty).order_by(UpdateDuty.due_on, UpdateDuty.opened_at)
    query = _scoped(query, reader, UpdateDuty.provider)
    if status is not None:
        query = query.where(UpdateDuty.status == status)
    views = [duty_view(session, d, now) for d in session.scalars(query.limit(LIMIT))]
    return [v for v in views if v["clock"]["overdue"]] if overdue else views


def demand_view(
    session: Session, demand: DataDemand, now: datetime, *, steps: bool = False
) -> dict[str, Any]:
    status = demand.status
    view: dict[str, Any] = {
        "id": demand.id,
        "title": demand.title,
        "requester": demand.requester,
        "requested_by": demand.requested_by,
        "wanted": demand.wanted,
        "basis": demand.basis,
        "scenario": demand.scenario,
        "scope": demand.scope,
        "method": demand.method,
        "term_until": demand.term_until.isoformat(),
        "status": status,
        "filed_at": _when(demand.filed_at),
        "routing": clock_view(demand.route_due_on, now, stopped=status != DemandStatus.FILED.value),
        "provider": demand.provider,
        "routed_at": _when(demand.routed_at),
        "route_note": demand.route_note,
        "reply": clock_view(demand.reply_due_on, now, stopped=status != DemandStatus.ROUTED.value),
        "replied_at": _when(demand.replied_at),
        "reasons": demand.reasons,
        "resource": demand.resource_code,
    }
    if steps:
        view["steps"] = [s.as_dict() for s in steps_of(session, demand.id)]
    return view


def demands(
    session: Session,
    reader: Actor | None,
    now: datetime,
    *,
    status: str | None = None,
    overdue: bool = False,
) -> list[dict[str, Any]]:
    query = select(DataDemand).order_by(DataDemand.filed_at.desc())
    if reader is not None and reader.role != AUTHORITY:
        query = query.where(
            or_(DataDemand.requester == reader.department, DataDemand.provider == reader.department)
        )
    if status is not None:
        query = query.where(DataDemand.status == status)
    views = [demand_view(session, d, now) for d in session.scalars(query.limit(LIMIT))]
    if overdue:
        return [v for v in views if v["routing"]["overdue"] or v["reply"]["overdue"]]
    return views


def _scoped(query: Select[Any], reader: Actor | None, column: Any) -> Select[Any]:
    """*query* limited to the reader's department unless the reader is the authority (or
    None: the operator's CLI)."""
    if reader is None or reader.role == AUTHORITY:
        return query
    return query.where(column == reader.department)
