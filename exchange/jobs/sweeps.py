"""The hub's built-in sweeps: expired tokens, agreement deadlines, the audit checkpoint, and the
run history itself.

Each sweep is one unit of work and idempotent, so a retry or a manual run next to a scheduled
one does no harm. Reads stay correct without them (an agreement's ``expired`` status and
``overdue`` flag are derived when read, a replayed ``jti`` is refused while its row exists);
the sweeps keep tables small and make deadlines visible in the history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from exchange.agreements.models import Agreement, AgreementEvent, AgreementStatus
from exchange.agreements.workdays import china_day
from exchange.audit.checkpoints import CheckpointSigner, sign_if_stale
from exchange.db import unit_of_work
from exchange.jobs.models import JobRun, JobTotals, RunOutcome
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec
from exchange.query.budget import sweep_counters
from exchange.security.clientauth import ClientAssertionJti
from exchange.settings import Settings

__all__ = [
    "SCHEDULER_ACTOR",
    "STALE_RUN",
    "builtin_sweeps",
    "sweep_agreements",
    "sweep_checkpoint",
    "sweep_job_runs",
    "sweep_tokens",
]

SCHEDULER_ACTOR = "tongban-scheduler"  # who the history says recorded a sweep's event
STALE_RUN = timedelta(hours=6)  # a run still "running" this long lost its worker


def sweep_tokens(context: JobContext) -> JobOutcome:
    """Delete client-assertion ``jti`` records whose assertion can no longer be presented
    (``expires_at`` already includes the clock-skew leeway)."""
    with unit_of_work(context.sessions, write=True) as session:
        result = session.execute(
            delete(ClientAssertionJti).where(ClientAssertionJti.expires_at < context.now)
        )
    return JobOutcome(rows=_count(result))


def sweep_budgets(context: JobContext) -> JobOutcome:
    """Delete verification-budget counters whose every mark has left the budget window."""
    window = timedelta(hours=context.settings.budget_window_h)
    with unit_of_work(context.sessions, write=True) as session:
        return JobOutcome(rows=sweep_counters(session, context.now, window))


def sweep_agreements(context: JobContext) -> JobOutcome:
    """Record, once per agreement, an ``expired`` event for an approved agreement whose
    validity has ended, and an ``overdue`` event for an application whose provider did not
    answer by its last working day (10 working days, 工作日)."""
    now = context.now
    approved = Agreement.status == AgreementStatus.APPROVED.value
    expired = approved & Agreement.valid_until.is_not(None) & (Agreement.valid_until <= now)
    pending = Agreement.status == AgreementStatus.PENDING.value
    overdue = pending & Agreement.due_by.is_not(None) & (Agreement.due_by < china_day(now))
    counts: dict[str, int] = {}
    with unit_of_work(context.sessions, write=True) as session:
        for action, condition in (("expired", expired), ("overdue", overdue)):
            recorded = select(AgreementEvent.agreement_id).where(AgreementEvent.action == action)
            # Lock the agreements first, then look for the event again: a concurrent sweep
            # that recorded it committed before this one got the locks.
            ids = session.scalars(
                select(Agreement.id)
                .where(condition, Agreement.id.not_in(recorded))
                .order_by(Agreement.id)
                .with_for_update()
            ).all()
            done = set(session.scalars(recorded.where(AgreementEvent.agreement_id.in_(ids))))
            for agreement_id in ids:
                if agreement_id in done:
                    continue
                session.add(_event(agreement_id, action, context))
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


def sweep_checkpoint(context: JobContext) -> JobOutcome:
    """Sign a checkpoint of the audit log when it has grown and the newest is older than the
    checkpoint interval."""
    settings = context.settings
    signer = CheckpointSigner(
        settings.secret_key.get_secret_value(),
        settings.audit_origin,
        interval=timedelta(seconds=settings.checkpoint_interval_s),
    )
    signed = sign_if_stale(signer, context.sessions)
    return JobOutcome(rows=int(signed), detail={"signed": signed})


def sweep_job_runs(context: JobContext) -> JobOutcome:
    """Delete run history older than ``job_history_days`` (the totals behind ``/metrics``
    stay), and fail the runs whose worker vanished mid-attempt."""
    horizon = context.now - timedelta(days=context.settings.job_history_days)
    with unit_of_work(context.sessions, write=True) as session:
        lost = session.scalars(
            select(JobRun)
            .where(
                JobRun.outcome == RunOutcome.RUNNING.value,
                JobRun.started_at < context.now - STALE_RUN,
            )
            .with_for_update()
        ).all()
        for run in lost:
            _fail_lost(session, run, context.now)
        purged = session.execute(delete(JobRun).where(JobRun.started_at < horizon))
    return JobOutcome(
        rows=_count(purged) + len(lost),
        detail={"purged": _count(purged), "abandoned": len(lost)},
    )


def _fail_lost(session: Session, run: JobRun, now: datetime) -> None:
    run.outcome = RunOutcome.FAILED.value
    run.final = True
    run.finished_at = now
    run.error_class = "WorkerLost"
    run.error_message = "the worker running this attempt stopped before it finished"
    session.execute(
        update(JobTotals)
        .where(JobTotals.job_id == run.job_id)
        .values(
            runs_failed=JobTotals.runs_failed + 1,
            attempts_failed=JobTotals.attempts_failed + 1,
            last_outcome=RunOutcome.FAILED.value,
        )
    )


def _count(result: object) -> int:
    rowcount = getattr(result, "rowcount", 0)
    return max(int(rowcount or 0), 0)


def builtin_sweeps(settings: Settings) -> list[JobSpec]:
    """The sweeps every hub runs."""
    return [
        JobSpec(
            "sweep.tokens",
            "Delete expired client-assertion jti records (replay store)",
            sweep_tokens,
            every_s=300,
        ),
        JobSpec(
            "sweep.budgets",
            "Delete verification-budget counters that have left the budget window",
            sweep_budgets,
            every_s=3600,
        ),
        JobSpec(
            "sweep.agreements",
            "Record expired agreements and overdue applications in their history",
            sweep_agreements,
            every_s=900,
        ),
        JobSpec(
            "audit.checkpoint",
            "Sign an audit-log checkpoint when the log has grown",
            sweep_checkpoint,
            every_s=settings.checkpoint_interval_s,
        ),
        JobSpec(
            "sweep.job_runs",
            f"Delete job history older than {settings.job_history_days} days; "
            "fail runs whose worker vanished",
            sweep_job_runs,
            every_s=3600,
        ),
    ]
