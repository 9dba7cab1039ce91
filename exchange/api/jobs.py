"""The scheduled jobs, for operators (and auditors, read-only): each job's last run, outcome,
next run and whether it is failing; one job with its recent attempts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from exchange.api.deps import Hub, StaffBearer
from exchange.api.problems import problem_responses
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.jobs.errors import UnknownJob
from exchange.jobs.spec import JobSpec, find_job
from exchange.jobs.status import job_detail, job_views
from exchange.security.identity import Principal, Role

__all__ = ["hub_jobs", "router"]

router = APIRouter(prefix="/jobs", tags=["operations"])

_READERS = {Role.OPERATOR, Role.AUDITOR}


def hub_jobs(request: Request) -> list[JobSpec]:
    """The jobs the hub was composed with (``app.state.hub.jobs``)."""
    jobs: list[JobSpec] = request.app.state.hub.jobs
    return jobs


def _require_reader(staff: Principal) -> None:
    if staff.role not in _READERS:
        raise Forbidden("only operators and auditors may read the jobs")


@router.get(
    "",
    summary="The scheduled jobs: last run, outcome, next run, failing",
    responses=problem_responses(401, 403),
)
def list_jobs(request: Request, hub: Hub, staff: StaffBearer) -> dict[str, Any]:
    _require_reader(staff)
    with unit_of_work(hub.sessions) as session:
        views = job_views(session, hub_jobs(request))
    return {"scheduler": hub.settings.scheduler, "jobs": views}


@router.get(
    "/{job_id}",
    summary="One job, with its recent attempts (newest first)",
    responses=problem_responses(401, 403, 404, 422),
)
def get_job(job_id: str, request: Request, hub: Hub, staff: StaffBearer) -> dict[str, Any]:
    _require_reader(staff)
    spec = find_job(hub_jobs(request), job_id)
    if spec is None:
        raise UnknownJob(f"no job named {job_id[:128]!r}")
    with unit_of_work(hub.sessions) as session:
        return job_detail(session, spec)
