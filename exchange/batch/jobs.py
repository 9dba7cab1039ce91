"""Scheduled work of the batch channel: expired extracts deleted."""

from __future__ import annotations

from exchange.batch.service import delete_expired
from exchange.db import unit_of_work
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec

__all__ = ["jobs", "sweep_extracts"]


def sweep_extracts(context: JobContext) -> JobOutcome:
    """Delete the chunks of every batch extract past its expiry (``batch_extract_ttl_h``),
    each an ``extract_deleted`` lifecycle entry of its agreement."""
    with unit_of_work(context.sessions, write=True) as session:
        deleted = delete_expired(session, context.now)
    return JobOutcome(rows=deleted, detail={"deleted": deleted})


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            "sweep.batch_extracts",
            "Delete batch extracts past their expiry",
            sweep_extracts,
            every_s=600,
        )
    ]
