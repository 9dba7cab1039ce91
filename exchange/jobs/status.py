"""What operators see of the jobs: each job's last run, outcome, next run and whether it is
failing, read from the database so that every worker (and the CLI) tells the same story.

A job is **failing** when its latest finished run (the attempt that decided it) failed; it
stops failing when a later run succeeds. The next run is the job store's ``next_run_time``;
a job no scheduler has added yet has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.jobs.models import APSCHEDULER_JOBS, JobRun, RunOutcome
from exchange.jobs.spec import JobSpec

__all__ = ["RECENT_RUNS", "job_detail", "job_views", "next_runs"]

RECENT_RUNS = 20


def next_runs(session: Session) -> dict[str, datetime | None]:
    """Each scheduled job's next run time, from the shared job store."""
    rows = session.execute(select(APSCHEDULER_JOBS.c.id, APSCHEDULER_JOBS.c.next_run_time))
    return {job_id: None if ts is None else datetime.fromtimestamp(ts, UTC) for job_id, ts in rows}


def job_views(session: Session, jobs: Sequence[JobSpec]) -> list[dict[str, Any]]:
    """One view per job, in the order given."""
    ids = [spec.id for spec in jobs]
    latest = _latest_rows(session, ids, final_only=False)
    decided = _latest_rows(session, ids, final_only=True)
    successes = dict(
        session.execute(
            select(JobRun.job_id, func.max(JobRun.finished_at))
            .where(JobRun.job_id.in_(ids), JobRun.outcome == RunOutcome.OK)
            .group_by(JobRun.job_id)
        ).all()
    )
    scheduled = next_runs(session)
    return [
        _view(spec, scheduled, latest.get(spec.id), decided.get(spec.id), successes.get(spec.id))
        for spec in jobs
    ]


def job_detail(session: Session, spec: JobSpec, recent: int = RECENT_RUNS) -> dict[str, Any]:
    """A job's view with its most recent attempts, newest first."""
    view = job_views(session, [spec])[0]
    rows = session.scalars(
        select(JobRun).where(JobRun.job_id == spec.id).order_by(JobRun.id.desc()).limit(recent)
    )
    return {**view, "recent_runs": [run_view(r) for r in rows]}


def run_view(row: JobRun) -> dict[str, Any]:
    """One attempt: when it was due and ran, how it ended, and its error class (with the
    message only where it is safe to show)."""
    duration = (
        None if row.finished_at is None else (row.finished_at - row.started_at).total_seconds()
    )
    return {
        "scheduled_for": row.scheduled_for.isoformat(),
        "trigger": row.trigger,
        "attempt": row.attempt,
        "worker": row.worker,
        "started_at": row.started_at.isoformat(),
        "finished_at": None if row.finished_at is None else row.finished_at.isoformat(),
        "outcome": row.outcome,
        "final": row.final,
        "duration_s": None if duration is None else round(duration, 6),
        "rows": row.rows,
        "detail": row.detail,
        "error": (
            None
            if row.error_class is None
            else {"class": row.error_class, "message": row.error_message}
        ),
    }


def _latest_rows(session: Session, ids: list[str], *, final_only: bool) -> dict[str, JobRun]:
    newest = select(func.max(JobRun.id)).where(JobRun.job_id.in_(ids)).group_by(JobRun.job_id)
    if final_only:
        newest = newest.where(JobRun.final.is_(True))
    rows = session.scalars(select(JobRun).where(JobRun.id.in_(newest)))
    return {row.job_id: row for row in rows}


def _view(
    spec: JobSpec,
    scheduled: dict[str, datetime | None],
    latest: JobRun | None,
    decided: JobRun | None,
    last_success: datetime | None,
) -> dict[str, Any]:
    next_run = scheduled.get(spec.id)
    return {
        "id": spec.id,
        "description": spec.description,
        "every_s": spec.every_s,
        "retry": {
            "attempts": spec.retry.attempts,
            "first_delay_s": spec.retry.first_delay_s,
            "max_delay_s": spec.retry.max_delay_s,
        },
        "scheduled": spec.id in scheduled,
        "next_run": None if next_run is None else next_run.isoformat(),
        "last_run": None if latest is None else run_view(latest),
        "last_success": None if last_success is None else _utc(last_success).isoformat(),
        "failing": decided is not None and decided.outcome == RunOutcome.FAILED,
    }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
