"""Breaches of a clock (未按时…): a step that came after its clock's last day, or has not come
and the day has passed. Each read from the row that keeps the clock's last day: applications
(reply, and the authority's decision on an extension asked) and agreements (delivery),
catalogue submissions (review, the authority's) and update duties, supply-demand requests
(routing, the authority's; answering), correction requests, disputes at the authority's level."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.agreements.models import Agreement, AgreementStatus
from exchange.compliance.articles import BreachKind, Party
from exchange.compliance.breach import Breach, delivered_on, ended_on, missed, terminations
from exchange.compliance.cases import Case, CaseKind
from exchange.corrections.models import Correction, CorrectionStatus
from exchange.disputes.models import Dispute, DisputeLevel, DisputeStatus
from exchange.lifecycle.audit import steps_of
from exchange.lifecycle.models import (
    CatalogueSubmission,
    DataDemand,
    DemandStatus,
    DutyStatus,
    SubmissionStatus,
    UpdateDuty,
)

__all__ = ["late_steps"]


def late_steps(session: Session, now: datetime, today: date) -> list[Breach]:
    """Every clock missed, whoever it waited for."""
    return [
        *_late_replies(session, now, today),
        *_late_reviews(session, today),
        *_late_updates(session, today),
        *_late_demands(session, today),
        *_late_corrections(session, today),
        *_late_disputes(session, today),
    ]


def _late_replies(session: Session, now: datetime, today: date) -> Iterable[Breach]:
    terminated = terminations(session)
    rows = session.scalars(
        select(Agreement).where(
            Agreement.due_by.is_not(None) | Agreement.delivery_due_by.is_not(None)
        )
    )
    for row in rows:
        provider, consumer = row.provider_department, row.consumer_department
        pending = row.status == AgreementStatus.PENDING
        reply = missed(row.due_by, None if pending else row.decided_at, pending, today)
        if reply is not None:
            yield Breach(
                BreachKind.LATE_REPLY,
                Party.DEPARTMENT,
                provider,
                consumer,
                Case(CaseKind.APPLICATION, row.id),
                reply[0],
                row.due_by,
                reply[1],
                {"resource": row.resource_code},
            )
        asked = (row.extension or {}).get("status") == "requested"
        undecided = missed(row.due_by, None, pending and asked, today)
        if undecided is not None:  # the authority let the clock run out on the extension
            yield Breach(
                BreachKind.LATE_EXTENSION_DECISION,
                Party.AUTHORITY,
                None,
                provider,
                Case(CaseKind.APPLICATION, row.id),
                undecided[0],
                row.due_by,
                undecided[1],
                {"resource": row.resource_code},
            )
        if row.delivery_due_by is None or row.granted is None:
            continue
        delivered = delivered_on(row)
        ended = ended_on(row, terminated, now)
        if delivered is None and ended is not None:
            delivered = ended  # the duty ended with the agreement
        delivery = missed(row.delivery_due_by, delivered, delivered is None, today)
        if delivery is not None:
            yield Breach(
                BreachKind.LATE_DELIVERY,
                Party.DEPARTMENT,
                provider,
                consumer,
                Case(CaseKind.AGREEMENT, row.id),
                delivery[0],
                row.delivery_due_by,
                delivery[1],
                {"resource": row.resource_code},
            )


def _late_reviews(session: Session, today: date) -> Iterable[Breach]:
    rows = session.scalars(
        select(CatalogueSubmission).where(CatalogueSubmission.review_due_on.is_not(None))
    )
    for row in rows:
        waiting = row.status == SubmissionStatus.SUBMITTED.value
        late = missed(row.review_due_on, None if waiting else row.decided_at, waiting, today)
        if late is not None and (waiting or row.decided_at is not None):
            yield Breach(
                BreachKind.LATE_REVIEW,
                Party.AUTHORITY,
                None,
                row.provider,
                Case(CaseKind.SUBMISSION, row.id),
                late[0],
                row.review_due_on,
                late[1],
                {"resource": row.resource_code},
            )


def _late_updates(session: Session, today: date) -> Iterable[Breach]:
    for row in session.scalars(select(UpdateDuty)):
        waiting = row.status == DutyStatus.OPEN.value
        late = missed(row.due_on, None if waiting else row.fulfilled_at, waiting, today)
        if late is not None:
            yield Breach(
                BreachKind.LATE_CATALOGUE_UPDATE,
                Party.DEPARTMENT,
                row.provider,
                None,
                Case(CaseKind.UPDATE_DUTY, row.id),
                late[0],
                row.due_on,
                late[1],
                {"resource": row.resource_code},
            )


def _late_demands(session: Session, today: date) -> Iterable[Breach]:
    for row in session.scalars(select(DataDemand)):
        case = Case(CaseKind.DEMAND, row.id)
        filed = row.status == DemandStatus.FILED.value
        routing = missed(row.route_due_on, None if filed else row.routed_at, filed, today)
        if routing is not None and not filed and _routed_more_than_once(session, row.id):
            routing = None  # routed again: the row keeps the last routing only
        if routing is not None:
            yield Breach(
                BreachKind.LATE_ROUTING,
                Party.AUTHORITY,
                None,
                row.requester,
                case,
                routing[0],
                row.route_due_on,
                routing[1],
                {},
            )
        if row.provider is None or row.reply_due_on is None:
            continue
        routed = row.status == DemandStatus.ROUTED.value
        reply = missed(row.reply_due_on, None if routed else row.replied_at, routed, today)
        if reply is not None:
            yield Breach(
                BreachKind.LATE_DEMAND_REPLY,
                Party.DEPARTMENT,
                row.provider,
                row.requester,
                case,
                reply[0],
                row.reply_due_on,
                reply[1],
                {},
            )


def _routed_more_than_once(session: Session, demand_id: str) -> bool:
    return sum(step.event == "routed" for step in steps_of(session, demand_id)) > 1


def _late_corrections(session: Session, today: date) -> Iterable[Breach]:
    rows = session.execute(
        select(
            Correction.id,
            Correction.provider,
            Correction.filer_department,
            Correction.resource,
            Correction.status,
            Correction.due_on,
            Correction.decided_at,
        )
    )
    for id_, provider, filer, resource, status, due_on, decided_at in rows:
        waiting = status == CorrectionStatus.OPEN
        late = missed(due_on, None if waiting else decided_at, waiting, today)
        if late is not None:
            yield Breach(
                BreachKind.LATE_CORRECTION,
                Party.DEPARTMENT,
                provider,
                filer,
                Case(CaseKind.CORRECTION, id_),
                late[0],
                due_on,
                late[1],
                {"resource": resource},
            )


def _late_disputes(session: Session, today: date) -> Iterable[Breach]:
    """At the authority's level: open past its clock, or decided after it."""
    rows = session.scalars(select(Dispute).where(Dispute.level == DisputeLevel.AUTHORITY))
    for row in rows:
        waiting = row.status is DisputeStatus.OPEN
        done = row.closed_at if row.status is DisputeStatus.DECIDED else None
        if not waiting and done is None:
            continue
        late = missed(row.due_on, done, waiting, today)
        if late is not None:
            yield Breach(
                BreachKind.LATE_DISPUTE_COORDINATION,
                Party.AUTHORITY,
                None,
                row.claimant,
                Case(CaseKind.DISPUTE, row.id),
                late[0],
                row.due_on,
                late[1],
                {"respondent": row.respondent},
            )
