"""Breaches (违反条例的情形) derived from the lifecycle's records, each mapped to its article.

A breach is a clock that ran out before its step came (an answer, a delivery, an update, a
review, a routing, a correction, a coordination), or a duty with no record where one was due
(usage records, a disposal attestation), or a service stopped or changed with no notice on
record. Each is derived, at the moment asked, from the rows the lifecycle's services keep; the
hub stores no breach. A breach *occurs* on the first day past its clock (China time) and is
reported in that month; it is ``open`` while the step is still missing and ends on the day the
step came late.

The hub's own periods where the regulation gives none (each a constant here, stated in
docs/lifecycle.md): the first usage record of an agreement is due
:data:`USAGE_RECORD_DAYS` days after the consumer first received data under it (its first use
through the query API, or the delivery), and the disposal attestation :data:`DISPOSAL_DAYS`
days after the agreement ended (expired, revoked or terminated, a lapse included) when data was
received under it.

What a breach shows is metadata: codes of departments, resources and cases, days and counts;
never a person, a value or a free text of the case.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalogue.models import Resource, ResourceField, ResourceVersion
from exchange.agreements.models import Agreement, AgreementStatus, AgreementUsage
from exchange.agreements.workdays import china_day, official_calendar
from exchange.compliance.articles import ARTICLES, BreachKind, Party
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
from exchange.stewardship.models import (
    AgreementSuspension,
    DisposalAttestation,
    ServiceChange,
    SuspensionStatus,
    UsageRecord,
)

__all__ = [
    "DISPOSAL_DAYS",
    "USAGE_RECORD_DAYS",
    "Breach",
    "derive_breaches",
    "pairs",
    "working_days_between",
]

USAGE_RECORD_DAYS = 30
"""Days after the first receipt of data under an agreement by which its first usage record is
due (the regulation asks for records, art. 25, and names no period)."""
DISPOSAL_DAYS = 30
"""Days after an agreement ended by which the consumer attests disposal (art. 27 names none)."""
_NOT_SHARED = "not_shared"


@dataclass(frozen=True)
class Breach:
    """One breach: its kind, whom it is charged to, the case, and its days."""

    kind: BreachKind
    party: Party
    department: str | None  # the department charged (None: the authority)
    counterpart: str | None  # the other department concerned, if any
    case: Case
    occurred_on: date  # the first day past the clock (China time)
    due_on: date | None  # the clock's last day (None: a breach of one moment)
    ended_on: date | None  # the day the late step came (None: still missing)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        suffix = f":{self.detail['version']}" if "version" in self.detail else ""
        return f"{self.kind.value}:{self.case.id}{suffix}"

    @property
    def open(self) -> bool:
        return self.ended_on is None

    @property
    def month(self) -> str:
        return self.occurred_on.strftime("%Y-%m")

    def as_json(self, today: date, names: dict[str, str]) -> dict[str, Any]:
        article, text = ARTICLES[self.kind]
        late = None
        if self.due_on is not None:
            late = working_days_between(self.due_on, self.ended_on or today)
        return {
            "id": self.id,
            "kind": self.kind.value,
            "name": text,
            "article": article.as_json(),
            "party": self.party.value,
            "department": self.department,
            "department_name": names.get(self.department or ""),
            "counterpart": self.counterpart,
            "counterpart_name": names.get(self.counterpart or ""),
            "case": self.case.as_json(),
            "due_on": None if self.due_on is None else self.due_on.isoformat(),
            "occurred_on": self.occurred_on.isoformat(),
            "ended_on": None if self.ended_on is None else self.ended_on.isoformat(),
            "open": self.open,
            "working_days_late": late,
            "detail": self.detail,
        }


def pairs(rows: Iterable[Any]) -> dict[Any, Any]:
    """The rows of a two-column select as a mapping from the first to the second."""
    return {first: second for first, second in rows}


def working_days_between(after: date, until: date) -> int:
    """Working days in (after, until] (State Council calendar, 调休 included)."""
    working = official_calendar().is_working_day
    count, day = 0, after
    while day < until:
        day += timedelta(days=1)
        count += bool(working(day))
    return count


def derive_breaches(session: Session, now: datetime) -> list[Breach]:
    """Every breach on record up to *now*, the most recent first."""
    today = china_day(now)
    found = [
        *_late_replies(session, now, today),
        *_late_reviews(session, today),
        *_late_updates(session, today),
        *_late_demands(session, today),
        *_late_corrections(session, today),
        *_late_disputes(session, today),
        *_service_changes(session),
        *_stewardship(session, now, today),
    ]
    return sorted(found, key=lambda b: (b.occurred_on, b.id), reverse=True)


def _late(
    due_on: date | None, done: datetime | date | None, still_open: bool, today: date
) -> tuple[date, date | None] | None:
    """(occurred_on, ended_on) if a clock ending *due_on* was missed: its step came *done*
    after it, or it is *still_open* past it; None otherwise."""
    if due_on is None:
        return None
    if done is not None:
        day = china_day(done) if isinstance(done, datetime) else done
        return (due_on + timedelta(days=1), day) if day > due_on else None
    if still_open and today > due_on:
        return due_on + timedelta(days=1), None
    return None


def _ended_on(agreement: Agreement, terminated: dict[str, datetime], now: datetime) -> date | None:
    """The day an agreement that was approved stopped being in force, if it did."""
    ends: list[date] = []
    if agreement.valid_until is not None and agreement.valid_until <= now:
        ends.append(china_day(agreement.valid_until))
    if agreement.revoked_at is not None:
        ends.append(china_day(agreement.revoked_at))
    if agreement.id in terminated:
        ends.append(china_day(terminated[agreement.id]))
    return min(ends) if ends else None


def _terminations(session: Session) -> dict[str, datetime]:
    rows = session.execute(
        select(AgreementSuspension.agreement_id, func.min(AgreementSuspension.ended_at))
        .where(AgreementSuspension.status == SuspensionStatus.TERMINATED)
        .group_by(AgreementSuspension.agreement_id)
    )
    return {agreement_id: ended for agreement_id, ended in rows if ended is not None}


def _late_replies(session: Session, now: datetime, today: date) -> Iterable[Breach]:
    terminated = _terminations(session)
    rows = session.scalars(
        select(Agreement).where(
            Agreement.due_by.is_not(None) | Agreement.delivery_due_by.is_not(None)
        )
    )
    for row in rows:
        provider, consumer = row.provider_department, row.consumer_department
        pending = row.status == AgreementStatus.PENDING
        reply = _late(row.due_by, None if pending else row.decided_at, pending, today)
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
        if row.delivery_due_by is None or row.granted is None:
            continue
        delivered = _delivered_on(row)
        ended = _ended_on(row, terminated, now)
        if delivered is None and ended is not None:
            delivered = ended  # the duty ended with the agreement
        delivery = _late(row.delivery_due_by, delivered, delivered is None, today)
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


def _delivered_on(row: Agreement) -> date | None:
    if not row.delivery or not row.delivery.get("at"):
        return None
    return china_day(datetime.fromisoformat(str(row.delivery["at"])))


def _late_reviews(session: Session, today: date) -> Iterable[Breach]:
    rows = session.scalars(
        select(CatalogueSubmission).where(CatalogueSubmission.review_due_on.is_not(None))
    )
    for row in rows:
        waiting = row.status == SubmissionStatus.SUBMITTED.value
        late = _late(row.review_due_on, None if waiting else row.decided_at, waiting, today)
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
        late = _late(row.due_on, None if waiting else row.fulfilled_at, waiting, today)
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
        routing = _late(row.route_due_on, None if filed else row.routed_at, filed, today)
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
        reply = _late(row.reply_due_on, None if routed else row.replied_at, routed, today)
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
        late = _late(due_on, None if waiting else decided_at, waiting, today)
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
        late = _late(row.due_on, done, waiting, today)
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


# -- services stopped or changed without notice (擅自终止或者变更) ---------------------------------


@dataclass(frozen=True)
class _ServiceEvent:
    resource: str
    provider: str
    at: datetime
    fields: frozenset[str] | None  # None: the whole resource (deprecated)
    version: int | None


def _service_events(session: Session) -> list[_ServiceEvent]:
    """Deprecations, and versions that dropped fields or made them not shared."""
    events = [
        _ServiceEvent(code, provider, at, None, None)
        for code, provider, at in session.execute(
            select(Resource.code, Resource.provider_code, Resource.deprecated_at).where(
                Resource.deprecated_at.is_not(None)
            )
        )
        if at is not None
    ]
    shared: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
    for code, version, name, sharing in session.execute(
        select(
            ResourceField.resource_code,
            ResourceField.version,
            ResourceField.name,
            ResourceField.sharing_type,
        )
    ):
        shared[(code, version)][name] = sharing
    providers = pairs(session.execute(select(Resource.code, Resource.provider_code)))
    for code, version, at in session.execute(
        select(
            ResourceVersion.resource_code, ResourceVersion.version, ResourceVersion.published_at
        ).where(ResourceVersion.version > 1)
    ):
        before, after = shared.get((code, version - 1), {}), shared.get((code, version), {})
        gone = {
            name
            for name, sharing in before.items()
            if sharing != _NOT_SHARED and after.get(name, _NOT_SHARED) == _NOT_SHARED
        }
        if gone:
            events.append(_ServiceEvent(code, providers[code], at, frozenset(gone), version))
    return events


def _service_changes(session: Session) -> Iterable[Breach]:
    events = _service_events(session)
    if not events:
        return
    codes = sorted({e.resource for e in events})
    agreements = session.scalars(
        select(Agreement).where(Agreement.resource_code.in_(codes), Agreement.granted.is_not(None))
    ).all()
    terminated = _terminations(session)
    notices: dict[str, list[ServiceChange]] = defaultdict(list)
    for notice in session.scalars(
        select(ServiceChange).where(ServiceChange.resource_code.in_(codes))
    ):
        notices[notice.resource_code].append(notice)
    for event in events:
        reached: dict[str, list[str]] = {}
        for agreement in agreements:
            if agreement.resource_code != event.resource or not _in_force(
                agreement, terminated, event.at
            ):
                continue
            granted = set(agreement.granted or {})
            touched = granted if event.fields is None else granted & event.fields
            if touched and not _announced(notices[event.resource], event, touched):
                reached[agreement.id] = sorted(touched)
        if not reached:
            continue
        day = china_day(event.at)
        detail: dict[str, Any] = {
            "change": "stop" if event.fields is None else "change",
            "agreements": sorted(reached),
            "fields": sorted({f for fields in reached.values() for f in fields}),
        }
        if event.version is not None:
            detail["version"] = event.version
        yield Breach(
            BreachKind.SERVICE_CHANGED_WITHOUT_NOTICE,
            Party.DEPARTMENT,
            event.provider,
            None,
            Case(CaseKind.RESOURCE, event.resource),
            day,
            None,
            day,
            detail,
        )


def _in_force(agreement: Agreement, terminated: dict[str, datetime], at: datetime) -> bool:
    if agreement.decided_at is None or agreement.decided_at > at:
        return False
    if agreement.valid_from is not None and agreement.valid_from > at:
        return False
    if agreement.valid_until is not None and agreement.valid_until <= at:
        return False
    if agreement.revoked_at is not None and agreement.revoked_at <= at:
        return False
    ended = terminated.get(agreement.id)
    return ended is None or ended > at


def _announced(notices: list[ServiceChange], event: _ServiceEvent, touched: set[str]) -> bool:
    """A notice filed before the change, taking effect no later than it, that covers it."""
    for notice in notices:
        if notice.filed_at >= event.at or notice.effective_on > china_day(event.at):
            continue
        covered = set(notice.fields or [])
        if not covered or covered & touched:
            return True
    return False


# -- usage records and disposal (art. 25, 27) ----------------------------------------------------


def _stewardship(session: Session, now: datetime, today: date) -> Iterable[Breach]:
    agreements = session.scalars(select(Agreement).where(Agreement.granted.is_not(None))).all()
    if not agreements:
        return
    first_use = pairs(
        session.execute(
            select(AgreementUsage.agreement_id, func.min(AgreementUsage.day)).group_by(
                AgreementUsage.agreement_id
            )
        )
    )
    first_record = pairs(
        session.execute(
            select(UsageRecord.agreement_id, func.min(UsageRecord.filed_at)).group_by(
                UsageRecord.agreement_id
            )
        )
    )
    first_attestation = pairs(
        session.execute(
            select(
                DisposalAttestation.agreement_id, func.min(DisposalAttestation.filed_at)
            ).group_by(DisposalAttestation.agreement_id)
        )
    )
    terminated = _terminations(session)
    for row in agreements:
        received = [d for d in (first_use.get(row.id), _delivered_on(row)) if d is not None]
        if not received:
            continue  # nothing received: nothing to record or dispose of
        case = Case(CaseKind.AGREEMENT, row.id)
        pair = (row.consumer_department, row.provider_department)
        record_due = min(received) + timedelta(days=USAGE_RECORD_DAYS)
        filed = first_record.get(row.id)
        late = _late(record_due, filed, filed is None, today)
        if late is not None:
            yield Breach(
                BreachKind.MISSING_USAGE_RECORDS,
                Party.DEPARTMENT,
                *pair,
                case,
                late[0],
                record_due,
                late[1],
                {"resource": row.resource_code},
            )
        ended = _ended_on(row, terminated, now)
        if ended is None:
            continue
        disposal_due = ended + timedelta(days=DISPOSAL_DAYS)
        attested = first_attestation.get(row.id)
        late = _late(disposal_due, attested, attested is None, today)
        if late is not None:
            yield Breach(
                BreachKind.UNATTESTED_DISPOSAL,
                Party.DEPARTMENT,
                *pair,
                case,
                late[0],
                disposal_due,
                late[1],
                {"resource": row.resource_code, "ended_on": ended.isoformat()},
            )
