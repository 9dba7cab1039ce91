"""The scheduler's own housekeeping: the run history.

Every other sweep belongs to its domain and is declared in that domain's ``jobs.py`` (tokens in
``security``, budgets in ``query``, agreements, consents, the audit checkpoint, cache syncs in
``sources/cache``); :mod:`exchange.hub` gathers them. Each sweep is one unit of work and
idempotent, so a retry or a manual run next to a scheduled one does no harm. Reads stay correct
without them (an agreement's ``expired`` status and ``overdue`` flag are derived when read, a
replayed ``jti`` is refused while its row exists); the sweeps keep tables small and make
deadlines visible in the history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from exchange.db import unit_of_work
from exchange.jobs.models import JobRun, JobTotals, RunOutcome
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec, rows_of
from exchange.settings import Settings

__all__ = ["STALE_RUN", "jobs", "sweep_job_runs"]

STALE_RUN = timedelta(hours=6)  # a run still "running" this long lost its worker


def sweep_job_runs(context: JobContext) -> JobOutcome:
    """Delete run history older than ``job_history_days`` (the totals behind ``/metrics``
    stay), and fail the runs whose worker vanished mid-attempt."""
    horizon = context.now - timedelta(days=context.settings.job_history_days)
    with unit_of_work(context.sessions, write=True) as session:
        lost = session.scalars(
            select(JobRun)
            .where(
                JobRun.outcome == RunOutcome.RUNNING,
                JobRun.started_at < context.now - STALE_RUN,
            )
            .with_for_update()
        ).all()
        for run in lost:
            _fail_lost(session, run, context.now)
        purged = session.execute(delete(JobRun).where(JobRun.started_at < horizon))
    return JobOutcome(
        rows=rows_of(purged) + len(lost),
        detail={"purged": rows_of(purged), "abandoned": len(lost)},
    )


def _fail_lost(session: Session, run: JobRun, now: datetime) -> None:
    run.outcome = RunOutcome.FAILED
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
            last_outcome=RunOutcome.FAILED,
        )
    )


def jobs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            "sweep.job_runs",
            f"Delete job history older than {settings.job_history_days} days; "
            "fail runs whose worker vanished",
            sweep_job_runs,
            every_s=3600,
        )
    ]
