"""Scheduled work of agreements: deadlines made visible in each agreement's history, and the
deliveries through the service interface read from the audit log."""

from __future__ import annotations

from sqlalchemy import select

from exchange.agreements.deliveries import record_interface_deliveries
from exchange.agreements.lifecycle import log_agreement_event
from exchange.agreements.models import Agreement, AgreementEvent, AgreementStatus
from exchange.agreements.workdays import china_day
from exchange.audit.lifecycle import hold_log
from exchange.db import unit_of_work
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec

__all__ = ["SCHEDULER_ACTOR", "jobs", "read_deliveries", "sweep_agreements"]

SCHEDULER_ACTOR = "tongban-scheduler"  # who the history says recorded a sweep's event


def sweep_agreements(context: JobContext) -> JobOutcome:
    """Record, once per agreement, an ``expired`` event for an approved agreement whose
    validity has ended, and an ``overdue`` event for an application whose provider did not
    answer by its last working day (10 working days, 工作日). An expiry is an ``expired``
    lifecycle entry in the audit log too (the exchange treats a validity past its signed end as
    over whether or not the sweep has run)."""
    now = context.now
    approved = Agreement.status == AgreementStatus.APPROVED
    expired = approved & Agreement.valid_until.is_not(None) & (Agreement.valid_until <= now)
    pending = Agreement.status == AgreementStatus.PENDING
    overdue = pending & Agreement.due_by.is_not(None) & (Agreement.due_by < china_day(now))
    counts: dict[str, int] = {}
    with unit_of_work(context.sessions, write=True) as session:
        hold_log(session)  # the log's head lock before the agreements' row locks
        for action, condition in (("expired", expired), ("overdue", overdue)):
            recorded = select(AgreementEvent.agreement_id).where(AgreementEvent.action == action)
            # Lock the agreements first, then look for the event again: a concurrent sweep
            # that recorded it committed before this one got the locks.
            rows = session.scalars(
                select(Agreement)
                .where(condition, Agreement.id.not_in(recorded))
                .order_by(Agreement.id)
                .with_for_update()
            ).all()
            ids = [row.id for row in rows]
            done = set(session.scalars(recorded.where(AgreementEvent.agreement_id.in_(ids))))
            for row in rows:
                if row.id in done:
                    continue
                session.add(_event(row.id, action, context))
                if action == "expired":
                    log_agreement_event(session, row, "expired")
            counts[action] = len(set(ids) - done)
    return JobOutcome(rows=sum(counts.values()), detail=counts)


def _event(agreement_id: str, action: str, context: JobContext) -> AgreementEvent:
    return AgreementEvent(
        agreement_id=agreement_id,
        at=context.now,
        actor=SCHEDULER_ACTOR,
        actor_role="system",
        actor_department=None,
        action=action,
        detail={"recorded_by": "sweep.agreements"},
    )


def read_deliveries(context: JobContext) -> JobOutcome:
    """Stop the delivery clock of every approved agreement whose data went out through the
    service interface: its first query releasing a field under it, read from the audit log
    (:mod:`exchange.agreements.deliveries`), is its delivery, dated then."""
    with unit_of_work(context.sessions, write=True) as session:
        recorded = record_interface_deliveries(session)
    return JobOutcome(rows=len(recorded), detail={"delivered": len(recorded)})


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            "sweep.agreements",
            "Record expired agreements and overdue applications in their history",
            sweep_agreements,
            every_s=900,
        ),
        JobSpec(
            "agreements.deliveries",
            "Stop delivery clocks at the first query under each agreement (from the audit log)",
            read_deliveries,
            every_s=600,
        ),
    ]
