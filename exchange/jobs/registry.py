"""Every job the hub schedules: the built-in sweeps, the consent sweep, and one cached-source
sync job per cached resource."""

from __future__ import annotations

from exchange.consent.service import expire_consents
from exchange.db import unit_of_work
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec
from exchange.jobs.sweeps import builtin_sweeps
from exchange.settings import Settings
from exchange.sources.cache.jobs import sync_jobs
from exchange.sources.registry import SourceRegistry

__all__ = ["CONSENT_SWEEP_EVERY_S", "all_jobs", "find_job"]

CONSENT_SWEEP_EVERY_S = 300


def all_jobs(settings: Settings, sources: SourceRegistry) -> list[JobSpec]:
    """The hub's jobs, sorted by id."""
    jobs = [*builtin_sweeps(settings), _consent_sweep(), *sync_jobs(settings, sources)]
    return sorted(jobs, key=lambda spec: spec.id)


def find_job(jobs: list[JobSpec], job_id: str) -> JobSpec | None:
    return next((spec for spec in jobs if spec.id == job_id), None)


def _sweep_consents(context: JobContext) -> JobOutcome:
    with unit_of_work(context.sessions, write=True) as session:
        return JobOutcome(rows=expire_consents(session, context.now))


def _consent_sweep() -> JobSpec:
    return JobSpec(
        "sweep.consents",
        "Mark expired consents and unanswered consent requests as expired",
        _sweep_consents,
        every_s=CONSENT_SWEEP_EVERY_S,
    )
