"""The hub's scheduler: APScheduler 3 with its job store in the hub database.

Every hub worker that runs a scheduler (``tongban serve`` unless ``TONGBAN_SCHEDULER=off``, and
``tongban worker``) schedules every job, on one shared job store (``apscheduler_jobs``). That
alone would run a job once per worker; what makes it run once per deployment is the claim in
:mod:`exchange.jobs.runner`: a run is ``(job_id, scheduled_for)``, and only the worker whose
claim row commits first runs it. For the workers to agree on ``scheduled_for``, every job's
run times lie on one grid, ``ANCHOR + k × every_s`` (UTC), and a run is named by the latest
grid time that is due when the job store hands the job out. So while any worker lives, each
grid time runs once; a worker that dies takes none of the others' runs with it.

APScheduler keeps a job's function as a textual reference in the pickled job state. Ours is a
placeholder: the job store binds each job it loads to this scheduler's runner, so the stored
state names no process and any worker can run any job. Jobs the registry no longer names are
removed from the store when a scheduler starts; a job whose interval changed is rescheduled.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from exchange import clock
from exchange.jobs.models import Trigger
from exchange.jobs.runner import JobRunner
from exchange.jobs.spec import JobSpec
from exchange.settings import Settings

__all__ = ["ANCHOR", "HubScheduler", "first_slot_after"]

log = logging.getLogger("tongban.jobs")

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)  # the grid every job's run times lie on
THREADS = 4  # jobs of one worker running at the same time


def first_slot_after(moment: datetime, every_s: int) -> datetime:
    """The first grid time of a job every *every_s* seconds at or after *moment*."""
    steps = math.ceil((moment - ANCHOR).total_seconds() / every_s)
    return ANCHOR + timedelta(seconds=steps * every_s)


def _placeholder() -> None:
    """The function reference stored with every job; the job store binds the real one."""
    raise RuntimeError("a Tongban job ran without being bound to a scheduler")


def _latest_due(job: Any, now: datetime) -> datetime | None:
    """The latest grid time of *job* that is due at *now* (``None`` if it is not due)."""
    next_run: datetime | None = job.next_run_time
    if next_run is None or next_run > now:
        return None
    step = float(job.trigger.interval_length)
    start: datetime = job.trigger.start_date
    steps = math.floor((now - start).total_seconds() / step)
    return max(next_run, start + timedelta(seconds=steps * step)).astimezone(UTC)


class _HubJobStore(SQLAlchemyJobStore):  # type: ignore[misc]  # APScheduler is untyped
    """APScheduler's SQLAlchemy job store on the hub engine, binding each loaded job to the
    scheduler's runner with the run time it was due for."""

    def __init__(self, engine: Engine, scheduler: HubScheduler) -> None:
        super().__init__(engine=engine)
        self._hub_scheduler = scheduler

    def _reconstitute_job(self, job_state: bytes) -> Any:
        job = super()._reconstitute_job(job_state)
        due = _latest_due(job, clock.now())
        job.func = functools.partial(self._hub_scheduler.fire, job.id, due)
        job.args = ()
        return job

    def shutdown(self) -> None:
        """The engine is the hub's, and the hub disposes of it."""


class HubScheduler:
    """Schedules *jobs* on the hub database and runs each of them once per grid time."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sessions: sessionmaker[Session],
        jobs: Sequence[JobSpec],
        *,
        worker: str | None = None,
    ) -> None:
        self._specs = {spec.id: spec for spec in jobs}
        if len(self._specs) != len(jobs):
            raise ValueError("two jobs have the same id")
        self._stopping = threading.Event()
        self.runner = JobRunner(settings, sessions, worker=worker, stopping=self._stopping)
        self._scheduler = BackgroundScheduler(
            jobstores={"default": _HubJobStore(engine, self)},
            executors={"default": ThreadPoolExecutor(THREADS)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    def start(self) -> None:
        """Start scheduling: add the jobs the store lacks, reschedule changed ones, remove
        those no longer known. A new job first runs one interval from now, on the grid."""
        self._scheduler.start()
        stored = {job.id: job for job in self._scheduler.get_jobs()}
        now = clock.now()
        for spec in self._specs.values():
            old = stored.get(spec.id)
            if old is not None and old.trigger.interval_length == spec.every_s:
                continue
            with contextlib.suppress(ConflictingIdError):  # another worker added it just now
                self._scheduler.add_job(
                    _placeholder,
                    trigger=IntervalTrigger(seconds=spec.every_s, start_date=ANCHOR, timezone=UTC),
                    id=spec.id,
                    name=spec.id,
                    replace_existing=old is not None,
                    next_run_time=first_slot_after(
                        now + timedelta(seconds=spec.every_s), spec.every_s
                    ),
                )
        for job_id in stored.keys() - self._specs.keys():
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(job_id)
        log.info("scheduler started: %d jobs, worker %s", len(self._specs), self.runner.worker)

    def shutdown(self) -> None:
        """Stop scheduling; a run in progress finishes its attempt, and is not retried."""
        self._stopping.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def fire(self, job_id: str, scheduled_for: datetime | None) -> None:
        """Run a job the store handed out (called on the scheduler's thread pool)."""
        spec = self._specs.get(job_id)
        if spec is None:
            log.warning("job %s is not known to this worker; skipped", job_id)
            return
        self.runner.run(spec, scheduled_for or clock.now(), Trigger.SCHEDULED)
