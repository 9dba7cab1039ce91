"""Breaches of a duty with no clock in its row: a service stopped or changed with no notice
before it (擅自终止或者变更, art. 29), no usage record where one was due (art. 25), no disposal
attestation after an agreement ended (art. 27).

The hub's own periods where the regulation gives none (stated in docs/lifecycle.md): the first
usage record of an agreement is due :data:`USAGE_RECORD_DAYS` days after the consumer first
received data under it (its first use through the query API, or the delivery), and the disposal
attestation :data:`DISPOSAL_DAYS` days after the agreement ended (expired, revoked or
terminated, a lapse included) when data was received under it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalogue.models import Resource, ResourceField, ResourceVersion
from exchange.agreements.models import Agreement, AgreementUsage
from exchange.agreements.workdays import china_day
from exchange.compliance.articles import BreachKind, Party
from exchange.compliance.breach import Breach, delivered_on, ended_on, missed, pairs, terminations
from exchange.compliance.cases import Case, CaseKind
from exchange.stewardship.models import DisposalAttestation, ServiceChange, UsageRecord

__all__ = ["DISPOSAL_DAYS", "USAGE_RECORD_DAYS", "missed_duties"]

USAGE_RECORD_DAYS = 30
"""Days after the first receipt of data under an agreement by which its first usage record is
due (the regulation asks for records, art. 25, and names no period)."""
DISPOSAL_DAYS = 30
"""Days after an agreement ended by which the consumer attests disposal (art. 27 names none)."""
_NOT_SHARED = "not_shared"


def missed_duties(session: Session, now: datetime, today: date) -> list[Breach]:
    return [*_service_changes(session), *_stewardship(session, now, today)]


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
    terminated = terminations(session)
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
    terminated = terminations(session)
    for row in agreements:
        received = [d for d in (first_use.get(row.id), delivered_on(row)) if d is not None]
        if not received:
            continue  # nothing received: nothing to record or dispose of
        case = Case(CaseKind.AGREEMENT, row.id)
        pair = (row.consumer_department, row.provider_department)
        record_due = min(received) + timedelta(days=USAGE_RECORD_DAYS)
        filed = first_record.get(row.id)
        late = missed(record_due, filed, filed is None, today)
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
        ended = ended_on(row, terminated, now)
        if ended is None:
            continue
        disposal_due = ended + timedelta(days=DISPOSAL_DAYS)
        attested = first_attestation.get(row.id)
        late = missed(disposal_due, attested, attested is None, today)
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
