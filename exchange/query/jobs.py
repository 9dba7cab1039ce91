"""Scheduled work of the query pipeline: the verification budgets' counters."""

from __future__ import annotations

from datetime import timedelta

from exchange.db import unit_of_work
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec
from exchange.query.budget import sweep_counters

__all__ = ["jobs", "sweep_budgets"]


def sweep_budgets(context: JobContext) -> JobOutcome:
    """Delete verification-budget counters whose every mark has left the budget window."""
    window = timedelta(hours=context.settings.budget_window_h)
    with unit_of_work(context.sessions, write=True) as session:
        return JobOutcome(rows=sweep_counters(session, context.now, window))


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            "sweep.budgets",
            "Delete verification-budget counters that have left the budget window",
            sweep_budgets,
            every_s=3600,
        )
    ]
