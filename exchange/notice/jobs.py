"""Scheduled work of deferred notices: ``notice.deferrals`` ends every deferral whose day has
come (China time), per access or standing, appends its ``ended`` entry, and so shows the
accesses to their citizen."""

from __future__ import annotations

from exchange.db import unit_of_work
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec
from exchange.notice import standing
from exchange.notice.service import end_due

__all__ = ["ENDS_EVERY_S", "end_deferrals", "jobs"]

ENDS_EVERY_S = 60


def end_deferrals(context: JobContext) -> JobOutcome:
    """End the deferrals in effect whose end date has come."""
    with unit_of_work(context.sessions, write=True) as session:
        ended = end_due(session, context.now)
        standing_ended = standing.end_due(session, context.now)
    return JobOutcome(rows=ended + standing_ended, detail={"standing": standing_ended})


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            "notice.deferrals",
            "End deferred notices whose date has come, so citizens see those accesses",
            end_deferrals,
            every_s=ENDS_EVERY_S,
        )
    ]
