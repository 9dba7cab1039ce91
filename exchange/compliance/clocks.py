"""Every clock of the sharing lifecycle that is running now, whoever it waits for.

Read from the rows the lifecycle's services keep, each with the last working day they store:
applications awaiting a reply (1 or 10 working days, 10 more once extended) and extensions
awaiting the authority, approved agreements awaiting delivery (20), catalogue submissions under
review (2, the authority's), update duties (10, +5), supply-demand requests to route (the
authority's) and to answer (the provider's), correction requests (校核, 10), open disputes at
their level, and suspensions awaiting remedy. A clock that is stopped (materials awaited) is not
running and is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.agreements.models import Agreement, AgreementStatus
from exchange.agreements.reading import current_status
from exchange.compliance.articles import Party
from exchange.compliance.cases import Case, CaseKind
from exchange.corrections.models import Correction, CorrectionStatus
from exchange.disputes.models import Dispute, DisputeLevel, DisputeStatus
from exchange.lifecycle.clocks import clock_view
from exchange.lifecycle.models import (
    CatalogueSubmission,
    DataDemand,
    DemandStatus,
    DutyStatus,
    SubmissionStatus,
    UpdateDuty,
)
from exchange.stewardship.models import AgreementSuspension, SuspensionStatus

__all__ = ["CLOCK_KINDS", "OpenClock", "open_clocks"]

CLOCK_KINDS = (
    "application_reply",  # 共享申请答复
    "extension_decision",  # 延期审批 (the authority)
    "delivery",  # 数据交付
    "catalogue_review",  # 目录审核 (the authority)
    "catalogue_update",  # 目录更新
    "demand_routing",  # 供需请求分派 (the authority)
    "demand_reply",  # 供需请求答复
    "correction",  # 校核纠错
    "dispute",  # 争议处理
    "remedy",  # 暂停后整改
)


@dataclass(frozen=True)
class OpenClock:
    """One running clock: what it is, who it waits for, the case, and its last day."""

    kind: str
    party: Party
    department: str | None  # the department it waits for (None: the authority or outside)
    counterpart: str | None  # the other department concerned, if any
    case: Case
    started: datetime | None
    due_on: date

    def as_json(self, now: datetime, names: dict[str, str]) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "party": self.party.value,
            "department": self.department,
            "department_name": names.get(self.department or ""),
            "counterpart": self.counterpart,
            "counterpart_name": names.get(self.counterpart or ""),
            "case": self.case.as_json(),
            "started_at": None if self.started is None else self.started.isoformat(),
            **clock_view(self.due_on, now),
        }


def open_clocks(session: Session, now: datetime) -> list[OpenClock]:
    """Every running clock, the earliest last day first."""
    found = [
        *_applications(session, now),
        *_submissions(session),
        *_duties(session),
        *_demands(session),
        *_corrections(session),
        *_disputes(session),
        *_remedies(session),
    ]
    return sorted(found, key=lambda c: (c.due_on, c.kind, c.case.id))


def _applications(session: Session, now: datetime) -> list[OpenClock]:
    found: list[OpenClock] = []
    rows = session.scalars(
        select(Agreement).where(
            (Agreement.status == AgreementStatus.PENDING) & Agreement.due_by.is_not(None)
            | (Agreement.status == AgreementStatus.APPROVED)
            & Agreement.delivery_due_by.is_not(None)
        )  # the delivery (JSON) is checked below: SQL NULL and JSON null alike
    )
    for row in rows:
        case = Case(CaseKind.APPLICATION, row.id)
        provider, consumer = row.provider_department, row.consumer_department
        if row.status == AgreementStatus.PENDING and row.due_by is not None:
            found.append(
                OpenClock(
                    "application_reply",
                    Party.DEPARTMENT,
                    provider,
                    consumer,
                    case,
                    row.materials_supplied_at or row.submitted_at,
                    row.due_by,
                )
            )
            if (row.extension or {}).get("status") == "requested":
                found.append(
                    OpenClock(
                        "extension_decision",
                        Party.AUTHORITY,
                        None,
                        provider,
                        case,
                        None,
                        row.due_by,
                    )
                )
        elif (
            row.delivery_due_by is not None
            and row.delivery is None
            and current_status(row, now) is AgreementStatus.APPROVED
        ):
            found.append(
                OpenClock(
                    "delivery",
                    Party.DEPARTMENT,
                    provider,
                    consumer,
                    Case(CaseKind.AGREEMENT, row.id),
                    row.decided_at,
                    row.delivery_due_by,
                )
            )
    return found


def _submissions(session: Session) -> list[OpenClock]:
    rows = session.scalars(
        select(CatalogueSubmission).where(
            CatalogueSubmission.status == SubmissionStatus.SUBMITTED.value,
            CatalogueSubmission.review_due_on.is_not(None),
        )
    )
    return [
        OpenClock(
            "catalogue_review",
            Party.AUTHORITY,
            None,
            row.provider,
            Case(CaseKind.SUBMISSION, row.id),
            row.submitted_at,
            row.review_due_on,
        )
        for row in rows
        if row.review_due_on is not None
    ]


def _duties(session: Session) -> list[OpenClock]:
    rows = session.scalars(select(UpdateDuty).where(UpdateDuty.status == DutyStatus.OPEN.value))
    return [
        OpenClock(
            "catalogue_update",
            Party.DEPARTMENT,
            row.provider,
            None,
            Case(CaseKind.UPDATE_DUTY, row.id),
            row.opened_at,
            row.due_on,
        )
        for row in rows
    ]


def _demands(session: Session) -> list[OpenClock]:
    found: list[OpenClock] = []
    rows = session.scalars(
        select(DataDemand).where(
            DataDemand.status.in_([DemandStatus.FILED.value, DemandStatus.ROUTED.value])
        )
    )
    for row in rows:
        case = Case(CaseKind.DEMAND, row.id)
        if row.status == DemandStatus.FILED.value:
            found.append(
                OpenClock(
                    "demand_routing",
                    Party.AUTHORITY,
                    None,
                    row.requester,
                    case,
                    row.filed_at,
                    row.route_due_on,
                )
            )
        elif row.reply_due_on is not None:
            found.append(
                OpenClock(
                    "demand_reply",
                    Party.DEPARTMENT,
                    row.provider,
                    row.requester,
                    case,
                    row.routed_at,
                    row.reply_due_on,
                )
            )
    return found


def _corrections(session: Session) -> list[OpenClock]:
    rows = session.execute(
        select(
            Correction.id,
            Correction.provider,
            Correction.filer_department,
            Correction.filed_at,
            Correction.due_on,
        ).where(Correction.status == CorrectionStatus.OPEN)
    )
    return [
        OpenClock(
            "correction",
            Party.DEPARTMENT,
            provider,
            filer,
            Case(CaseKind.CORRECTION, id_),
            filed_at,
            due_on,
        )
        for id_, provider, filer, filed_at, due_on in rows
    ]


_LEVEL_PARTY = {
    DisputeLevel.AUTHORITY: Party.AUTHORITY,
    DisputeLevel.SUPERIOR: Party.SUPERIOR,
    DisputeLevel.GOVERNMENT: Party.GOVERNMENT,
}


def _disputes(session: Session) -> list[OpenClock]:
    found: list[OpenClock] = []
    for row in session.scalars(select(Dispute).where(Dispute.status == DisputeStatus.OPEN)):
        case = Case(CaseKind.DISPUTE, row.id)
        party = _LEVEL_PARTY.get(row.level)
        if party is None:  # negotiation: both departments are on the clock
            for mine, other in ((row.claimant, row.respondent), (row.respondent, row.claimant)):
                found.append(
                    OpenClock(
                        "dispute", Party.DEPARTMENT, mine, other, case, row.level_since, row.due_on
                    )
                )
        else:
            found.append(
                OpenClock("dispute", party, None, row.claimant, case, row.level_since, row.due_on)
            )
    return found


def _remedies(session: Session) -> list[OpenClock]:
    rows = session.execute(
        select(AgreementSuspension, Agreement.consumer_department, Agreement.provider_department)
        .join(Agreement, Agreement.id == AgreementSuspension.agreement_id)
        .where(AgreementSuspension.status == SuspensionStatus.SUSPENDED)
    )
    return [
        OpenClock(
            "remedy",
            Party.DEPARTMENT,
            consumer,
            provider,
            Case(CaseKind.AGREEMENT, suspension.agreement_id),
            suspension.suspended_at,
            suspension.remedy_by,
        )
        for suspension, consumer, provider in rows
    ]
