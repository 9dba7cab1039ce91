"""Scheduled work of consent: expiry of consents and of unanswered requests."""

from __future__ import annotations

from exchange.consent.service import expire_consents
from exchange.db import unit_of_work
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec

__all__ = ["CONSENT_SWEEP_EVERY_S", "jobs", "sweep_consents"]

CONSENT_SWEEP_EVERY_S = 300


def sweep_consents(context: JobContext) -> JobOutcome:
    """Mark expired consents and consent requests nobody answered in time as expired."""
    with unit_of_work(context.sessions, write=True) as session:
        return JobOutcome(rows=expire_consents(session, context.now))


def jobs() -> list[JobSpec]:
    return [
        JobSpec(
            "sweep.consents",
            "Mark expired consents and unanswered consent requests as expired",
            sweep_consents,
            every_s=CONSENT_SWEEP_EVERY_S,
        )
    ]
