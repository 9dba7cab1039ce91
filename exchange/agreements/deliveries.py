"""The delivery clock's stop for the service-interface channel (服务接口), read from the audit log.

Once an application in the 2025 form is approved, its data is delivered within 20 working days
(:mod:`exchange.agreements.applications`). Through the batch channel the first chunk served is
the delivery (:mod:`exchange.batch.service`); through the service interface it is the first
query under the agreement that released a field: the consumer then has the data. That moment is
in the audit log already (each released attribute names the agreement it was released under),
so it is read from there, after the fact, by the ``agreements.deliveries`` job, and nothing is
added to the query pipeline. The delivery recorded is dated at that query, with its audit index,
whatever the time the job ran: the clock stopped then.

Which agreements: approved, in the 2025 form with ``interface`` among its channels, on a
delivery clock and not delivered yet. Which entries: those of the agreement's system, kinds
``query`` and ``verify`` (a check against a claimed value delivers the field's use too), from
the decision on, in log order; the first with an attribute ``released`` under the agreement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.agreements.models import Agreement, AgreementStatus
from exchange.agreements.replies import record_delivery
from exchange.agreements.service import Actor
from exchange.audit.lifecycle import hold_log
from exchange.audit.models import AuditRecord

__all__ = ["DELIVERY_ACTOR", "FirstUse", "first_interface_use", "record_interface_deliveries"]

DELIVERY_ACTOR = Actor("tongban-scheduler", "system", None)
"""Who the history says recorded a delivery read from the audit log."""
_EXCHANGE_KINDS = ("query", "verify")


@dataclass(frozen=True)
class FirstUse:
    """The first release under an agreement: when, and the audit entry that records it."""

    at: datetime
    index: int


def _awaits_interface_delivery(agreement: Agreement) -> bool:
    return (
        agreement.status == AgreementStatus.APPROVED
        and agreement.delivery is None
        and agreement.delivery_due_by is not None
        and agreement.decided_at is not None
        and "interface" in ((agreement.use or {}).get("sharing_modes") or [])
    )


def first_interface_use(session: Session, agreement: Agreement) -> FirstUse | None:
    """The first entry of the agreement's system, since its decision, that released an
    attribute under it; None if there is none yet."""
    if agreement.decided_at is None:
        return None
    rows = session.execute(
        select(AuditRecord.index, AuditRecord.recorded_at, AuditRecord.entry)
        .where(
            AuditRecord.system_id == agreement.system_id,
            AuditRecord.kind.in_(_EXCHANGE_KINDS),
            AuditRecord.recorded_at >= agreement.decided_at,
            # RFC 8785 entries have no spaces: the database keeps only those naming it
            AuditRecord.entry.contains(f'"agreement":"{agreement.id}"', autoescape=True),
        )
        .order_by(AuditRecord.index)
        .execution_options(yield_per=500)
    )
    for index, at, entry in rows:
        attributes = json.loads(entry).get("attributes") or {}
        if any(_released_under(a, agreement.id) for a in attributes.values()):
            return FirstUse(at if at.tzinfo else at.replace(tzinfo=UTC), index)
    return None


def _released_under(attribute: object, agreement_id: str) -> bool:
    return (
        isinstance(attribute, dict)
        and attribute.get("agreement") == agreement_id
        and attribute.get("outcome") == "released"
    )


def record_interface_deliveries(session: Session) -> list[str]:
    """Record, dated at its first release, the delivery of every approved agreement that
    awaits one through the service interface and was used; the agreements recorded. The
    caller commits (the log's head lock is taken first, then the agreements' row locks)."""
    hold_log(session)
    rows = session.scalars(
        select(Agreement)
        .where(Agreement.status == AgreementStatus.APPROVED, Agreement.delivery_due_by.is_not(None))
        .order_by(Agreement.id)
        .with_for_update()
    ).all()
    recorded = []
    for agreement in rows:
        if not _awaits_interface_delivery(agreement):
            continue
        used = first_interface_use(session, agreement)
        if used is None:
            continue
        record_delivery(
            session,
            None,
            agreement,
            "interface",
            now=used.at,
            by=DELIVERY_ACTOR,
            evidence={"audit_index": used.index},
        )
        recorded.append(agreement.id)
    return recorded
