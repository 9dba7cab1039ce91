"""GET /jobs, /jobs/{id} and /metrics over HTTP with dev-IdP tokens: who may read them, a
failing job shown as failing until it succeeds, and Prometheus text that counts runs,
failures, rows and time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from exchange.app import create_app
from exchange.jobs.runner import JobRunner
from exchange.jobs.scheduler import ANCHOR
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec, RetryPolicy
from exchange.security.identity import Role
from exchange.settings import Settings

PROBLEM = "application/problem+json"
SLOT = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


class Flaky:
    """A job that fails while ``failing`` is set, else handles five rows."""

    def __init__(self) -> None:
        self.failing = threading.Event()

    def __call__(self, _context: JobContext) -> JobOutcome:
        if self.failing.is_set():
            raise ConnectionError("the source refused the connection")
        return JobOutcome(rows=5)


@pytest.fixture
def flaky() -> Flaky:
    return Flaky()


@pytest.fixture
def hub(database_url: str, flaky: Flaky) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, adapters_file=None, scheduler="off")
    app = create_app(settings)
    spec = JobSpec("test.flaky", "a job that fails on demand", flaky, 60, RetryPolicy(2, 0, 0))
    app.state.hub.jobs.append(spec)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def run(hub: TestClient, slot: datetime) -> None:
    state: Any = hub.app.state  # type: ignore[attr-defined]
    [spec] = [s for s in state.hub.jobs if s.id == "test.flaky"]
    JobRunner(state.hub.settings, state.hub.sessions).run(spec, slot)


def bearer(hub: TestClient, role: Role, subject: str = "staff-1") -> dict[str, str]:
    identity = hub.app.state.hub.identity  # type: ignore[attr-defined]
    department = "PSB" if role is Role.DEPARTMENT_ADMIN else None
    return {"Authorization": f"Bearer {identity.issue_dev_token(subject, role, department)}"}


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == code


def metrics(hub: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = hub.get("/metrics", headers=bearer(hub, Role.OPERATOR))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            job = sample.labels.get("job")
            if job == "test.flaky":
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def flaky_sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted({"job": "test.flaky", **labels}.items())))]


def test_jobs_and_metrics_need_the_right_staff_role(hub: TestClient) -> None:
    for path in ("/jobs", "/jobs/sweep.tokens", "/metrics"):
        problem(hub.get(path), 401, "invalid_token")
        problem(hub.get(path, headers={"Authorization": "Bearer nonsense"}), 401, "invalid_token")
        citizen = bearer(hub, Role.CITIZEN, "11010519491231002X")
        problem(hub.get(path, headers=citizen), 403, "forbidden")
        problem(hub.get(path, headers=bearer(hub, Role.DEPARTMENT_ADMIN)), 403, "forbidden")
    problem(hub.get("/metrics", headers=bearer(hub, Role.AUDITOR)), 403, "forbidden")
    assert hub.get("/jobs", headers=bearer(hub, Role.AUDITOR)).status_code == 200
    problem(hub.get("/jobs/no.such.job", headers=bearer(hub, Role.OPERATOR)), 404, "unknown_job")


def test_a_failing_job_shows_as_failing_until_it_succeeds(hub: TestClient, flaky: Flaky) -> None:
    operator = bearer(hub, Role.OPERATOR)
    listed = hub.get("/jobs", headers=operator).json()
    assert listed["scheduler"] == "off"
    ids = [job["id"] for job in listed["jobs"]]
    assert {"sweep.tokens", "sweep.agreements", "audit.checkpoint", "test.flaky"} <= set(ids)
    never = next(j for j in listed["jobs"] if j["id"] == "test.flaky")
    assert (never["last_run"], never["failing"], never["scheduled"]) == (None, False, False)

    flaky.failing.set()
    run(hub, SLOT)
    job = hub.get("/jobs/test.flaky", headers=operator).json()
    assert job["failing"] is True
    assert [(r["attempt"], r["outcome"], r["final"]) for r in job["recent_runs"]] == [
        (2, "failed", True),
        (1, "failed", False),
    ]
    assert job["last_run"]["error"] == {"class": "ConnectionError", "message": None}
    samples = metrics(hub)
    assert flaky_sample(samples, "tongban_job_failing") == 1
    assert flaky_sample(samples, "tongban_job_runs_total", outcome="failed") == 1
    assert flaky_sample(samples, "tongban_job_runs_total", outcome="ok") == 0
    assert flaky_sample(samples, "tongban_job_failures_total") == 2
    assert flaky_sample(samples, "tongban_job_duration_seconds_count") == 2

    flaky.failing.clear()
    run(hub, SLOT + timedelta(minutes=1))
    run(hub, SLOT + timedelta(minutes=2))
    job = hub.get("/jobs/test.flaky", headers=operator).json()
    assert job["failing"] is False
    assert job["last_run"]["outcome"] == "ok"
    assert job["last_success"] is not None
    samples = metrics(hub)
    assert flaky_sample(samples, "tongban_job_failing") == 0
    assert flaky_sample(samples, "tongban_job_runs_total", outcome="ok") == 2
    assert flaky_sample(samples, "tongban_job_failures_total") == 2
    assert flaky_sample(samples, "tongban_job_rows_total") == 10
    assert flaky_sample(samples, "tongban_job_duration_seconds_count") == 4
    assert flaky_sample(samples, "tongban_job_duration_seconds_sum") > 0
    last_success = flaky_sample(samples, "tongban_job_last_success_timestamp_seconds")
    assert abs(last_success - datetime.now(UTC).timestamp()) < 60


def test_metrics_name_every_job_even_before_it_ran(hub: TestClient) -> None:
    response = hub.get("/metrics", headers=bearer(hub, Role.OPERATOR))
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert {"tongban_job_runs", "tongban_job_failing", "tongban_job_duration_seconds"} <= set(
        families
    )
    jobs = {s.labels["job"] for s in families["tongban_job_failing"].samples}
    assert {"sweep.tokens", "audit.checkpoint", "test.flaky"} <= jobs
    assert response.headers["cache-control"] == "no-store"


def test_with_the_scheduler_on_the_jobs_are_scheduled_on_the_grid(database_url: str) -> None:
    settings = Settings(database_url=database_url, adapters_file=None)
    with TestClient(create_app(settings)) as client:
        operator = bearer(client, Role.OPERATOR)
        listed = client.get("/jobs", headers=operator).json()
    assert listed["scheduler"] == "on"
    for job in listed["jobs"]:
        assert job["scheduled"] is True, job["id"]
        next_run = datetime.fromisoformat(job["next_run"])
        assert (next_run - ANCHOR).total_seconds() % job["every_s"] == 0
        assert next_run > datetime.now(UTC)
