"""Running a job: the claim that makes a run happen once, retries with exponential backoff,
every attempt recorded, failing until a later run succeeds, and no personal data in the
history."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange.db import unit_of_work
from exchange.jobs.models import JobRun, JobTotals, RunOutcome, Trigger
from exchange.jobs.runner import JobRunner
from exchange.jobs.scheduler import ANCHOR, first_slot_after
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec, RetryPolicy
from exchange.jobs.status import job_views
from exchange.settings import Settings
from schemas import TongbanError

ID_NUMBER = "11010519491231002X"
SLOT = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def runner(settings: Settings, sessions: sessionmaker[Session], **kw: object) -> JobRunner:
    return JobRunner(settings, sessions, **kw)  # type: ignore[arg-type]


def attempts(sessions: sessionmaker[Session], job_id: str) -> list[JobRun]:
    with unit_of_work(sessions) as session:
        return list(
            session.scalars(select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id))
        )


class SourceDown(TongbanError):
    code = "source_down"
    title = "Source down"


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(attempts=6, first_delay_s=1, max_delay_s=5)
    assert [policy.delay_after(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


def test_grid_times_are_shared_by_every_worker() -> None:
    moment = datetime(2026, 11, 22, 3, 0, 7, 500, tzinfo=UTC)
    slot = first_slot_after(moment, 60)
    assert slot == datetime(2026, 11, 22, 3, 1, tzinfo=UTC)
    assert (slot - ANCHOR).total_seconds() % 60 == 0
    assert first_slot_after(slot, 60) == slot


def test_a_failing_job_is_retried_with_backoff_then_failing_until_a_success(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    calls: list[float] = []
    fail = threading.Event()
    fail.set()

    def flaky(context: JobContext) -> JobOutcome:
        calls.append(time.monotonic())
        assert context.scheduled_for is not None
        if fail.is_set():
            raise RuntimeError(f"could not read the record of {ID_NUMBER}")
        return JobOutcome(rows=7, detail={"resource": "PSB-HJ-0001"})

    spec = JobSpec("test.flaky", "fails, then works", flaky, 60, RetryPolicy(3, 0.2, 0.3))
    result = runner(settings, sessions).run(spec, SLOT)
    assert result is not None
    assert (result.outcome, result.attempt, result.error_class) == (
        RunOutcome.FAILED,
        3,
        "RuntimeError",
    )
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.3
    rows = attempts(sessions, "test.flaky")
    assert [(r.attempt, r.outcome, r.final) for r in rows] == [
        (1, "failed", False),
        (2, "failed", False),
        (3, "failed", True),
    ]
    assert {r.scheduled_for for r in rows} == {SLOT}
    assert all(r.error_class == "RuntimeError" and r.error_message is None for r in rows)
    assert all(r.finished_at is not None and r.finished_at >= r.started_at for r in rows)
    with unit_of_work(sessions) as session:
        [view] = job_views(session, [spec])
    assert view["failing"] is True
    assert view["last_run"]["error"] == {"class": "RuntimeError", "message": None}
    assert view["last_success"] is None

    fail.clear()
    later = runner(settings, sessions).run(spec, SLOT + timedelta(minutes=1))
    assert later is not None
    assert (later.outcome, later.rows) == (RunOutcome.OK, 7)
    with unit_of_work(sessions) as session:
        [view] = job_views(session, [spec])
        totals = session.get(JobTotals, "test.flaky")
    assert view["failing"] is False
    assert view["last_run"]["outcome"] == "ok"
    assert view["last_run"]["rows"] == 7
    assert view["last_run"]["detail"] == {"resource": "PSB-HJ-0001"}
    assert view["last_success"] is not None
    assert totals is not None
    assert (totals.runs_ok, totals.runs_failed, totals.attempts_failed, totals.rows) == (1, 1, 3, 7)
    assert totals.duration_count == 4
    assert totals.last_outcome == "ok"
    assert ID_NUMBER not in repr([vars(r) for r in attempts(sessions, "test.flaky")])


def test_a_deliberate_error_keeps_its_safe_message(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    def down(_context: JobContext) -> JobOutcome:
        raise SourceDown("the PSB source did not answer in 2 s")

    spec = JobSpec("test.down", "source down", down, 60, RetryPolicy(attempts=1))
    result = runner(settings, sessions).run(spec, SLOT)
    assert result is not None
    assert result.outcome is RunOutcome.FAILED
    [row] = attempts(sessions, "test.down")
    assert (row.error_class, row.error_message, row.final) == (
        "SourceDown",
        "the PSB source did not answer in 2 s",
        True,
    )


def test_only_one_worker_runs_a_scheduled_time(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    ran: list[str] = []

    def slow(context: JobContext) -> JobOutcome:
        ran.append(threading.current_thread().name)
        time.sleep(0.3)
        return JobOutcome(rows=1)

    spec = JobSpec("test.slow", "slow", slow, 60)
    workers = [runner(settings, sessions, worker=f"worker-{n}") for n in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda w: w.run(spec, SLOT), workers))
    assert len(ran) == 1
    assert sum(r is not None for r in results) == 1
    [row] = attempts(sessions, "test.slow")
    assert row.outcome == "ok"
    assert row.worker in {w.worker for w in workers}
    # The next scheduled time is a new run; a manual run is one of its own.
    assert runner(settings, sessions).run(spec, SLOT + timedelta(minutes=1)) is not None
    manual = runner(settings, sessions).run(spec, datetime.now(UTC), Trigger.MANUAL)
    assert manual is not None
    assert len(ran) == 3


def test_a_stopping_worker_does_not_wait_to_retry(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    stopping = threading.Event()
    stopping.set()

    def broken(_context: JobContext) -> JobOutcome:
        raise RuntimeError("broken")

    spec = JobSpec("test.broken", "broken", broken, 60, RetryPolicy(3, 30, 30))
    began = time.monotonic()
    result = runner(settings, sessions, stopping=stopping).run(spec, SLOT)
    assert time.monotonic() - began < 5
    assert result is not None
    assert result.attempt == 1
    [row] = attempts(sessions, "test.broken")
    assert (row.outcome, row.final) == ("failed", True)
    with unit_of_work(sessions) as session:
        totals = session.get(JobTotals, "test.broken")
    assert totals is not None
    assert (totals.runs_failed, totals.last_outcome) == (1, "failed")
