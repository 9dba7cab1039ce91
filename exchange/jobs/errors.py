"""Errors of the scheduler's operator surfaces (API and CLI), each safe to show."""

from __future__ import annotations

from schemas import TongbanError

__all__ = ["JobFailed", "UnknownJob"]


class UnknownJob(TongbanError):
    """No scheduled job with that id."""

    code = "unknown_job"
    status = 404
    title = "No such job"


class JobFailed(TongbanError):
    """A job run on request (``tongban jobs run``) still failed after its retries."""

    code = "job_failed"
    status = 500
    title = "The job failed"
