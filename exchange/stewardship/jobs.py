"""Scheduled work of stewardship: access unused for a configured period lapses (art. 29).

``stewardship.lapse`` (hourly) ends, once, every approved agreement in force that has been
usable for longer than ``agreement_lapse_days`` and was not used in that many days (no use
counted in ``agreement_usage``): it is recorded as a termination (``agreement_suspensions``,
status ``terminated``, note ``lapsed``), so the exchange relies on it no more, and appended to
the audit log as a ``lapsed`` step. Access comes back only through a new application. Unset (the
default), nothing lapses: the regulation names no period, each province sets its own.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import exists, select

from exchange.agreements.models import Agreement, AgreementStatus, AgreementUsage
from exchange.agreements.workdays import china_day
from exchange.audit.lifecycle import hold_log
from exchange.db import unit_of_work
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec
from exchange.stewardship.models import AgreementSuspension, SuspensionStatus
from exchange.stewardship.service import Steward, log_step
from exchange.stewardship.suspended import HALTING

__all__ = ["SCHEDULER", "jobs", "lapse_unused"]

SCHEDULER = Steward("tongban-scheduler", "system", None)
LAPSED = "lapsed"


def lapse_unused(context: JobContext) -> JobOutcome:
    days = context.settings.agreement_lapse_days
    if days is None:
        return JobOutcome(rows=0, detail={"lapsed": 0, "period_days": None})
    now = context.now
    since = now - timedelta(days=days)
    used = exists().where(
        AgreementUsage.agreement_id == Agreement.id, AgreementUsage.day >= china_day(since)
    )
    halted = exists().where(
        AgreementSuspension.agreement_id == Agreement.id,
        AgreementSuspension.status.in_(HALTING),
    )
    with unit_of_work(context.sessions, write=True) as session:
        hold_log(session)
        rows = session.scalars(
            select(Agreement)
            .where(
                Agreement.status == AgreementStatus.APPROVED,
                Agreement.valid_from.is_not(None),
                Agreement.valid_from <= since,
                Agreement.valid_until.is_(None) | (Agreement.valid_until > now),
                ~used,
                ~halted,
            )
            .order_by(Agreement.id)
            .with_for_update()
        ).all()
        for agreement in rows:
            note = f"lapsed: not used in {days} days"
            row = AgreementSuspension(
                id=f"sus-{uuid.uuid4()}",
                agreement_id=agreement.id,
                status=SuspensionStatus.TERMINATED,
                reasons=note,
                remedy_by=china_day(now),
                suspended_at=now,
                suspended_by=SCHEDULER.subject,
                suspended_by_role=SCHEDULER.role,
                ended_at=now,
                ended_by=SCHEDULER.subject,
                ended_note=LAPSED,
            )
            session.add(row)
            session.flush()
            log_step(session, SCHEDULER, agreement, LAPSED, row.id, note)
    return JobOutcome(rows=len(rows), detail={"lapsed": len(rows), "period_days": days})


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            "stewardship.lapse",
            "End agreements not used for agreement_lapse_days (access lapses, art. 29)",
            lapse_unused,
            every_s=3600,
        )
    ]
