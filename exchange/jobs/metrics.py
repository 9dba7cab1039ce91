"""The jobs' Prometheus metrics, read from the database at scrape time.

Counters come from ``job_totals`` (they only grow, even when old run history is purged);
gauges from the latest runs and the job store. Every worker answers a scrape with the same
numbers, whichever worker ran the jobs.

| metric | type | labels | meaning |
|---|---|---|---|
| ``tongban_job_runs_total`` | counter | job, outcome | runs by final outcome (ok, failed) |
| ``tongban_job_failures_total`` | counter | job | failed attempts, retried ones included |
| ``tongban_job_rows_total`` | counter | job | rows the successful attempts handled |
| ``tongban_job_duration_seconds`` | summary | job | time spent per attempt (``_count``, ``_sum``) |
| ``tongban_job_last_duration_seconds`` | gauge | job | the latest attempt's duration |
| ``tongban_job_last_success_timestamp_seconds`` | gauge | job | when the latest success finished |
| ``tongban_job_failing`` | gauge | job | 1 while the latest run failed |
| ``tongban_job_running`` | gauge | job | attempts running now |
| ``tongban_job_next_run_timestamp_seconds`` | gauge | job | the next scheduled run |
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.jobs.models import JobRun, JobTotals, RunOutcome
from exchange.jobs.status import next_runs

__all__ = ["job_metrics"]


def job_metrics(session: Session, job_ids: Sequence[str]) -> Iterable[Metric]:
    """The metric families of every job in *job_ids* and every job that has run."""
    totals = {row.job_id: row for row in session.scalars(select(JobTotals))}
    running = dict(
        session.execute(
            select(JobRun.job_id, func.count())
            .where(JobRun.outcome == RunOutcome.RUNNING)
            .group_by(JobRun.job_id)
        ).all()
    )
    upcoming = next_runs(session)
    jobs = sorted(set(job_ids) | totals.keys())

    runs = CounterMetricFamily(
        "tongban_job_runs", "Job runs by final outcome (after retries)", labels=["job", "outcome"]
    )
    failures = CounterMetricFamily(
        "tongban_job_failures", "Failed job attempts, retried ones included", labels=["job"]
    )
    rows = CounterMetricFamily(
        "tongban_job_rows", "Rows handled by successful job attempts", labels=["job"]
    )
    duration = SummaryMetricFamily(
        "tongban_job_duration_seconds", "Time spent per job attempt", labels=["job"]
    )
    last_duration = GaugeMetricFamily(
        "tongban_job_last_duration_seconds", "Duration of the latest job attempt", labels=["job"]
    )
    last_success = GaugeMetricFamily(
        "tongban_job_last_success_timestamp_seconds",
        "When the latest successful run of the job finished (Unix time)",
        labels=["job"],
    )
    failing = GaugeMetricFamily(
        "tongban_job_failing", "1 while the job's latest run failed", labels=["job"]
    )
    active = GaugeMetricFamily("tongban_job_running", "Job attempts running now", labels=["job"])
    next_run = GaugeMetricFamily(
        "tongban_job_next_run_timestamp_seconds",
        "When the job runs next (Unix time)",
        labels=["job"],
    )
    for job in jobs:
        total = totals.get(job)
        ok_runs = 0 if total is None else total.runs_ok
        failed_runs = 0 if total is None else total.runs_failed
        runs.add_metric([job, RunOutcome.OK.value], ok_runs)
        runs.add_metric([job, RunOutcome.FAILED.value], failed_runs)
        failures.add_metric([job], 0 if total is None else total.attempts_failed)
        rows.add_metric([job], 0 if total is None else total.rows)
        duration.add_metric(
            [job],
            count_value=0 if total is None else total.duration_count,
            sum_value=0.0 if total is None else total.duration_sum_s,
        )
        is_failing = total is not None and total.last_outcome == RunOutcome.FAILED
        failing.add_metric([job], 1.0 if is_failing else 0.0)
        active.add_metric([job], running.get(job, 0))
        if total is not None and total.last_duration_s is not None:
            last_duration.add_metric([job], total.last_duration_s)
        if total is not None and total.last_success_at is not None:
            last_success.add_metric([job], total.last_success_at.timestamp())
        upcoming_run = upcoming.get(job)
        if upcoming_run is not None:
            next_run.add_metric([job], upcoming_run.timestamp())
    return [
        runs,
        failures,
        rows,
        duration,
        last_duration,
        last_success,
        failing,
        active,
        next_run,
    ]
