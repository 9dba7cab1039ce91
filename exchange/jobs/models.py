"""Tables of the scheduler, on the hub's declarative base.

``job_runs``: one row per attempt of a run. A run is one ``(job_id, scheduled_for)``; its first
attempt's row is the claim that makes it happen once across hub workers (the unique key
refuses a second worker's insert). ``final`` marks the attempt that decided the run (success,
or the last failed attempt). Rows are kept for ``job_history_days`` (``sweep.job_runs``).

``job_totals``: per job, counters that only grow (runs, failures, rows, time spent) and the
latest outcome, so that ``/metrics`` stays monotonic when old history is purged.

``apscheduler_jobs``: APScheduler 3's SQLAlchemy job store, declared here with exactly the
columns APScheduler creates, so that the migration makes it and the models and migrations
agree.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base, str_enum

__all__ = ["APSCHEDULER_JOBS", "JobRun", "JobTotals", "RunOutcome", "Trigger"]


class RunOutcome(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


class Trigger(StrEnum):
    SCHEDULED = "scheduled"  # by the scheduler, at its slot
    MANUAL = "manual"  # `tongban jobs run ID`


class JobRun(Base):
    """One attempt of one run of a job."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "scheduled_for", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(128), index=True)
    scheduled_for: Mapped[datetime]
    trigger: Mapped[Trigger] = mapped_column(str_enum(Trigger, length=16))
    attempt: Mapped[int]
    worker: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[RunOutcome] = mapped_column(str_enum(RunOutcome, length=16))
    final: Mapped[bool] = mapped_column(Boolean)
    rows: Mapped[int | None]
    detail: Mapped[dict[str, Any] | None]
    error_class: Mapped[str | None] = mapped_column(String(128))
    error_message: Mapped[str | None] = mapped_column(Text)


class JobTotals(Base):
    """Counters of one job since the hub began, for ``/metrics``."""

    __tablename__ = "job_totals"

    job_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    runs_ok: Mapped[int]
    runs_failed: Mapped[int]
    attempts_failed: Mapped[int]
    rows: Mapped[int] = mapped_column(BigInteger)
    duration_sum_s: Mapped[float] = mapped_column(Float)
    duration_count: Mapped[int]
    last_duration_s: Mapped[float | None] = mapped_column(Float)
    last_outcome: Mapped[RunOutcome | None] = mapped_column(str_enum(RunOutcome, length=16))
    last_success_at: Mapped[datetime | None]


# The columns and index of apscheduler.jobstores.sqlalchemy.SQLAlchemyJobStore (3.x): 191 is
# the longest InnoDB utf8mb4 key, Float(25) an 8-byte float (a UTC timestamp in seconds).
APSCHEDULER_JOBS = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
