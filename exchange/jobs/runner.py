"""Running one job once: claim the run, try it, retry with backoff, record every attempt.

The order, for a run ``(job_id, scheduled_for)``:

1. **claim**: insert the first attempt's ``job_runs`` row (``running``) in its own committed
   transaction. The unique key ``(job_id, scheduled_for, attempt)`` refuses a second worker's
   insert, so whichever worker commits first runs the job and the others skip it quietly;
2. **try**: call the job with a fresh :class:`JobContext`;
3. **record**: mark the attempt ``ok`` or ``failed`` with its duration, rows and error, and add
   it to ``job_totals``, in one transaction;
4. **retry**: after a failure, wait the policy's delay (1 s, 2 s, 4 s … capped) and insert the
   next attempt's row; after the last attempt the run is ``failed`` (``final``). A scheduler
   that is stopping does not wait: the failed attempt becomes final at once.

An error is recorded by its class; its message only when it is a :class:`TongbanError`, whose
messages are written to be safe to show. Other messages (a database error carries its SQL and
parameters) may hold personal data and are never stored or logged.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from exchange import clock
from exchange.db import unit_of_work
from exchange.jobs.models import JobRun, JobTotals, RunOutcome, Trigger
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec
from exchange.settings import Settings
from schemas import TongbanError

__all__ = ["AttemptResult", "JobRunner", "worker_id"]

log = logging.getLogger("tongban.jobs")

MAX_ERROR_CHARS = 500


def worker_id() -> str:
    """This process, as the run history names it: host, process id and a random tag."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class AttemptResult:
    """How the last attempt of a run ended."""

    outcome: RunOutcome
    attempt: int
    rows: int
    error_class: str | None = None
    error_message: str | None = None


class JobRunner:
    """Runs jobs for one worker, against the hub database."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        worker: str | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self.worker = worker or worker_id()
        self._stopping = stopping or threading.Event()

    def run(
        self, spec: JobSpec, scheduled_for: datetime, trigger: Trigger = Trigger.SCHEDULED
    ) -> AttemptResult | None:
        """Run *spec* for *scheduled_for* unless another worker claimed that run first (then
        ``None``). Never raises for a failure of the job itself."""
        run_id = self._claim(spec.id, scheduled_for, trigger)
        if run_id is None:
            log.debug("job %s at %s: claimed by another worker", spec.id, scheduled_for)
            return None
        attempt = 1
        while True:
            result = self._attempt(spec, run_id, attempt, scheduled_for)
            if result.outcome is RunOutcome.OK or attempt >= spec.retry.attempts:
                return result
            if self._stopping.wait(spec.retry.delay_after(attempt)):
                self._finalise(run_id)
                return result
            attempt += 1
            run_id = self._insert(spec.id, scheduled_for, trigger, attempt)

    def _attempt(
        self, spec: JobSpec, run_id: int, attempt: int, scheduled_for: datetime
    ) -> AttemptResult:
        last = attempt >= spec.retry.attempts
        context = JobContext(self._settings, self._sessions, clock.now(), scheduled_for)
        began = time.monotonic()
        try:
            outcome = spec.run(context)
            if not isinstance(outcome, JobOutcome):
                raise TypeError("a job must return a JobOutcome")
        except Exception as exc:  # noqa: BLE001 - a failing job is recorded, never fatal
            result = AttemptResult(RunOutcome.FAILED, attempt, 0, *_error_of(exc))
            self._record(spec.id, run_id, result, time.monotonic() - began, {}, final=last)
            log.warning(
                "job %s attempt %d/%d failed: %s",
                spec.id,
                attempt,
                spec.retry.attempts,
                result.error_class,
            )
            return result
        result = AttemptResult(RunOutcome.OK, attempt, max(int(outcome.rows), 0))
        detail = _json_safe(outcome.detail)
        self._record(spec.id, run_id, result, time.monotonic() - began, detail, final=True)
        log.info("job %s ok: %d rows", spec.id, result.rows)
        return result

    def _claim(self, job_id: str, scheduled_for: datetime, trigger: Trigger) -> int | None:
        try:
            return self._insert(job_id, scheduled_for, trigger, 1)
        except IntegrityError:
            return None

    def _insert(self, job_id: str, scheduled_for: datetime, trigger: Trigger, attempt: int) -> int:
        with unit_of_work(self._sessions, write=True) as session:
            row = JobRun(
                job_id=job_id,
                scheduled_for=scheduled_for,
                trigger=trigger,
                attempt=attempt,
                worker=self.worker,
                started_at=clock.now(),
                outcome=RunOutcome.RUNNING,
                final=False,
            )
            session.add(row)
            session.flush()
            _ensure_totals(session, job_id)
            return row.id

    def _record(
        self,
        job_id: str,
        run_id: int,
        result: AttemptResult,
        duration_s: float,
        detail: dict[str, Any],
        *,
        final: bool,
    ) -> None:
        now = clock.now()
        ok = result.outcome is RunOutcome.OK
        with unit_of_work(self._sessions, write=True) as session:
            session.execute(
                update(JobRun)
                .where(JobRun.id == run_id)
                .values(
                    finished_at=now,
                    outcome=result.outcome,
                    final=final,
                    rows=result.rows,
                    detail=detail or None,
                    error_class=result.error_class,
                    error_message=result.error_message,
                )
            )
            totals: dict[str, Any] = {
                "duration_sum_s": JobTotals.duration_sum_s + duration_s,
                "duration_count": JobTotals.duration_count + 1,
                "last_duration_s": duration_s,
                "rows": JobTotals.rows + result.rows,
            }
            if ok:
                totals |= {"runs_ok": JobTotals.runs_ok + 1, "last_success_at": now}
            else:
                totals["attempts_failed"] = JobTotals.attempts_failed + 1
                if final:
                    totals["runs_failed"] = JobTotals.runs_failed + 1
            if final:
                totals["last_outcome"] = result.outcome
            session.execute(update(JobTotals).where(JobTotals.job_id == job_id).values(totals))

    def _finalise(self, run_id: int) -> None:
        """A failed attempt that will not be retried (the worker is stopping) ends its run."""
        with unit_of_work(self._sessions, write=True) as session:
            row = session.get(JobRun, run_id)
            if row is None or row.final:
                return
            row.final = True
            session.execute(
                update(JobTotals)
                .where(JobTotals.job_id == row.job_id)
                .values(
                    runs_failed=JobTotals.runs_failed + 1,
                    last_outcome=RunOutcome.FAILED,
                )
            )


def _ensure_totals(session: Session, job_id: str) -> None:
    """The job's totals row, created on its first run (a concurrent first run may win)."""
    if session.get(JobTotals, job_id) is not None:
        return
    try:
        with session.begin_nested():
            session.add(
                JobTotals(
                    job_id=job_id,
                    runs_ok=0,
                    runs_failed=0,
                    attempts_failed=0,
                    rows=0,
                    duration_sum_s=0.0,
                    duration_count=0,
                )
            )
    except IntegrityError:
        pass


def _json_safe(detail: Any) -> dict[str, Any]:
    """The outcome's detail as plain JSON (anything else becomes its string form)."""
    try:
        value = json.loads(json.dumps(dict(detail), default=str))
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _error_of(exc: BaseException) -> tuple[str, str | None]:
    """The error's class, and its message only when it is one written to be shown."""
    name = type(exc).__qualname__[:128]
    if isinstance(exc, TongbanError):
        return name, exc.explain()[:MAX_ERROR_CHARS]
    return name, None
