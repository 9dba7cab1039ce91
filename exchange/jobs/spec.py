"""What a scheduled job is, as every module that contributes jobs sees it.

A job is a plain function of a :class:`JobContext` that returns a :class:`JobOutcome` (how many
rows it handled, and a small detail object without personal data) or raises. The scheduler owns
when it runs, that it runs once across hub workers, retries with backoff and the run history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from exchange.settings import Settings

__all__ = ["JobContext", "JobOutcome", "JobSpec", "RetryPolicy", "find_job", "rows_of"]


@dataclass(frozen=True)
class JobContext:
    """What a job may use: the hub's settings and database, the attempt's time, and the grid
    time the run was scheduled for (the run's identity across workers). Anything else a job
    needs (the sources, a signer) its domain's ``jobs.py`` closes over when the hub composes it."""

    settings: Settings
    sessions: sessionmaker[Session]
    now: datetime
    scheduled_for: datetime | None = None


@dataclass(frozen=True)
class JobOutcome:
    rows: int = 0
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing run is tried, and how long the scheduler waits between attempts:
    ``first_delay_s`` after the first failure, doubling each time, never more than
    ``max_delay_s``."""

    attempts: int = 3
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("a retry policy needs attempts >= 1 and delays >= 0")

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number *attempt* (counted from 1)."""
        return float(min(self.first_delay_s * 2 ** (attempt - 1), self.max_delay_s))


@dataclass(frozen=True)
class JobSpec:
    """A job: a stable id (``sweep.consents``, ``sync.PSB-HJ-0001``), a one-line description,
    the function, how often it runs (seconds between runs) and how a failing run is retried."""

    id: str
    description: str
    run: Callable[[JobContext], JobOutcome]
    every_s: int
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.every_s < 1:
            raise ValueError(f"job {self.id}: every_s must be at least 1")


def find_job(jobs: Sequence[JobSpec], job_id: str) -> JobSpec | None:
    return next((spec for spec in jobs if spec.id == job_id), None)


def rows_of(result: object) -> int:
    """Rows a bulk statement touched (0 when the driver cannot say)."""
    rowcount = getattr(result, "rowcount", 0)
    return max(int(rowcount or 0), 0)
