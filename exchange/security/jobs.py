"""Scheduled work of client authentication: the replay store of client assertions."""

from __future__ import annotations

from sqlalchemy import delete

from exchange.db import unit_of_work
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec, rows_of
from exchange.security.models import ClientAssertionJti

__all__ = ["jobs", "sweep_tokens"]


def sweep_tokens(context: JobContext) -> JobOutcome:
    """Delete client-assertion ``jti`` records whose assertion can no longer be presented
    (``expires_at`` already includes the clock-skew leeway)."""
    with unit_of_work(context.sessions, write=True) as session:
        result = session.execute(
            delete(ClientAssertionJti).where(ClientAssertionJti.expires_at < context.now)
        )
    return JobOutcome(rows=rows_of(result))


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            "sweep.tokens",
            "Delete expired client-assertion jti records (replay store)",
            sweep_tokens,
            every_s=300,
        )
    ]
