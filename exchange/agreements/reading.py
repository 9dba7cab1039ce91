"""Reading agreements: who may see which, their status at a given time, and their views.

A department admin sees the agreements its department is the consumer or the provider of; an
auditor sees all; nobody else reads them. An agreement the caller may not see is answered as
not found, so that its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from exchange.agreements.applications import missing_materials
from exchange.agreements.errors import AgreementNotFound
from exchange.agreements.models import Agreement, AgreementEvent, AgreementStatus, Origin
from exchange.agreements.workdays import china_day
from exchange.audit.lifecycle import event_view, logged_events
from exchange.audit.reading import AgreementRef
from exchange.errors import Forbidden
from exchange.security.identity import Principal, Role

__all__ = [
    "Party",
    "agreement_ref",
    "agreement_views",
    "current_status",
    "extension_requests",
    "is_overdue",
    "list_agreements",
    "visible_agreement",
]


class Party(StrEnum):
    """Which side of an agreement the caller's department is on."""

    CONSUMER = "consumer"  # 数据使用方
    PROVIDER = "provider"  # 数据提供方


def current_status(agreement: Agreement, now: datetime) -> AgreementStatus:
    """The stored status, except that an approved agreement past its validity is expired."""
    status = AgreementStatus(agreement.status)
    if (
        status is AgreementStatus.APPROVED
        and agreement.valid_until is not None
        and agreement.valid_until <= now
    ):
        return AgreementStatus.EXPIRED
    return status


def is_overdue(agreement: Agreement, now: datetime) -> bool:
    """Pending, and the last working day to answer has passed (China Standard Time)."""
    return (
        agreement.status == AgreementStatus.PENDING
        and agreement.due_by is not None
        and china_day(now) > agreement.due_by
    )


_DEPARTMENT_ROLES = (Role.DEPARTMENT_ADMIN, Role.SHARING_OFFICER)


def _require_reader(principal: Principal) -> None:
    if principal.role not in (*_DEPARTMENT_ROLES, Role.AUDITOR):
        raise Forbidden(
            "only department administrators, sharing officers and auditors may read agreements"
        )


def _may_see(principal: Principal, agreement: Agreement) -> bool:
    if principal.role is Role.AUDITOR:
        return True
    return principal.role in _DEPARTMENT_ROLES and principal.department in (
        agreement.consumer_department,
        agreement.provider_department,
    )


def visible_agreement(
    session: Session, principal: Principal, agreement_id: str, *, lock: bool = False
) -> Agreement:
    """The agreement, if the caller may see it; :class:`AgreementNotFound` otherwise."""
    _require_reader(principal)
    agreement = session.get(Agreement, agreement_id, with_for_update=lock)
    if agreement is None or not _may_see(principal, agreement):
        raise AgreementNotFound(f"no agreement {agreement_id!r}")
    return agreement


def list_agreements(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    status: AgreementStatus | None = None,
    party: Party | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Agreement], int]:
    """The agreements the caller may see, newest first, and how many there are in all.
    ``party`` narrows a department admin's list to one side; auditors see every side."""
    _require_reader(principal)
    query: Select[Agreement] = select(Agreement)
    if principal.role in _DEPARTMENT_ROLES:
        consumer = Agreement.consumer_department == principal.department
        provider = Agreement.provider_department == principal.department
        sides = {Party.CONSUMER: consumer, Party.PROVIDER: provider}
        query = query.where(sides[party] if party else consumer | provider)
    if status is not None:
        query = query.where(_status_is(status, now))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Agreement.submitted_at.desc(), Agreement.id).limit(limit).offset(offset)
    )
    return list(rows), total


def extension_requests(session: Session, principal: Principal) -> list[Agreement]:
    """For the data authority: the pending applications whose provider asks to extend the
    reply clock, the oldest request first."""
    if principal.role is not Role.DATA_AUTHORITY:
        raise Forbidden("only the data authority decides extensions")
    rows = session.scalars(
        select(Agreement).where(
            Agreement.status == AgreementStatus.PENDING, Agreement.extension.is_not(None)
        )
    )
    asked = [row for row in rows if (row.extension or {}).get("status") == "requested"]
    return sorted(asked, key=lambda row: str((row.extension or {}).get("requested_at")))


def _status_is(status: AgreementStatus, now: datetime) -> ColumnElement[bool]:
    approved = Agreement.status == AgreementStatus.APPROVED
    if status is AgreementStatus.APPROVED:
        return approved & (Agreement.valid_until.is_(None) | (Agreement.valid_until > now))
    if status is AgreementStatus.EXPIRED:
        return approved & (Agreement.valid_until <= now)
    return Agreement.status == status


def agreement_views(
    session: Session, agreements: Sequence[Agreement], *, now: datetime
) -> list[dict[str, Any]]:
    """The representation of each agreement at ``now``, with its history and its lifecycle
    entries in the audit log (``log``: each one's index and leaf hash, for an inclusion
    proof)."""
    history: dict[str, list[dict[str, Any]]] = {a.id: [] for a in agreements}
    if agreements:
        events = session.scalars(
            select(AgreementEvent)
            .where(AgreementEvent.agreement_id.in_(list(history)))
            .order_by(AgreementEvent.id)
        )
        for event in events:
            history[event.agreement_id].append(
                {
                    "at": event.at.isoformat(),
                    "action": event.action,
                    "actor": event.actor,
                    "role": event.actor_role,
                    "department": event.actor_department,
                    "detail": event.detail,
                }
            )
    logged = logged_events(session, list(history))
    return [
        {**_view(a, history[a.id], now), "log": [event_view(e) for e in logged[a.id]]}
        for a in agreements
    ]


def _view(agreement: Agreement, history: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    return {
        "id": agreement.id,
        "status": current_status(agreement, now).value,
        "overdue": is_overdue(agreement, now),
        "origin": agreement.origin,
        "consumer": {"system": agreement.system_id, "department": agreement.consumer_department},
        "provider": agreement.provider_department,
        "resource": agreement.resource_code,
        "resource_version": agreement.resource_version,
        "fields": agreement.fields,
        "purposes": agreement.purposes,
        "legal_basis": agreement.legal_basis,
        "justification": agreement.justification,
        "requested_validity": {
            "from": _iso(agreement.requested_from),
            "until": _iso(agreement.requested_until),
        },
        "submitted_at": agreement.submitted_at.isoformat(),
        "submitted_by": agreement.submitted_by,
        "due_by": _iso(agreement.due_by),
        "decision": _decision(agreement),
        "revocation": (
            {
                "at": _iso(agreement.revoked_at),
                "by": agreement.revoked_by,
                "reason": agreement.revocation_reason,
            }
            if agreement.revoked_at is not None
            else None
        ),
        "history": history,
        "terms": agreement.terms,
        **_clocks(agreement, now),
    }


def _clocks(agreement: Agreement, now: datetime) -> dict[str, Any]:
    """The 2025 form's use and clocks (``form`` ``2016`` and nulls for the older form)."""
    delivery_due = agreement.delivery_due_by
    late_delivery = (
        delivery_due is not None
        and agreement.delivery is None
        and current_status(agreement, now) is AgreementStatus.APPROVED
        and china_day(now) > delivery_due
    )
    return {
        "form": "2016" if agreement.use is None else "2025",
        "use": agreement.use,
        "reply_working_days": agreement.reply_working_days,
        "missing_materials": missing_materials(agreement),
        "materials_notice": agreement.materials_notice,
        "materials_supplied_at": _iso(agreement.materials_supplied_at),
        "extension": agreement.extension,
        "delivery_due_by": _iso(delivery_due),
        "delivery": agreement.delivery,
        "delivery_overdue": late_delivery,
    }


def _decision(agreement: Agreement) -> dict[str, Any] | None:
    if agreement.decided_at is None:
        return None
    decided = {"at": agreement.decided_at.isoformat(), "by": agreement.decided_by}
    if agreement.granted is None:
        return {"decision": "refuse", **decided, "reason": agreement.refusal_reason}
    return {
        "decision": "approve",
        **decided,
        "fields": agreement.granted,
        "row_condition": agreement.row_condition,
        "daily_quota": agreement.daily_quota,
        "requires_consent": agreement.requires_consent,
        "valid_from": _iso(agreement.valid_from),
        "valid_until": _iso(agreement.valid_until),
    }


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def agreement_ref(session: Session, agreement_id: str) -> AgreementRef | None:
    """What a citizen's access list names of an agreement (:class:`AgreementRef`): the title of
    a loaded document, the resource and the provider."""
    row = session.get(Agreement, agreement_id)
    if row is None:
        return None
    titled = row.origin is Origin.DOCUMENT and bool(row.justification)
    return AgreementRef(
        row.justification if titled else None,
        row.resource_code,
        row.resource_version,
        row.provider_department,
    )
