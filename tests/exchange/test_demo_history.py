"""``tongban demo --traffic`` leaves four weeks of history behind (:mod:`exchange.demo.history`):
the log's entries span the weeks before today, in order and none after the real time; the
auditor's statistics on a fresh demo show accesses of both departments on most days, denials,
consent events and both anomalies, read through the real route; the operator sees each job run
every night and once more now, and a signed checkpoint over the history; the consent request the
demo leaves for its citizen is still open; and ``tongban audit verify`` passes on that log.
Without ``--traffic`` the log holds no query (the worlds other tests build count their own). The
month holds the sharing lifecycle too, spread over its days: catalogue reviews, a supply-demand
request, applications on each clock, a batch delivery, usage records, an ended term with no
disposal attested, a dispute taken to the authority."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange.agreements.workdays import CHINA_TZ as CHINA
from exchange.app import create_app
from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from exchange.demo.history import BURST, HISTORY_DAYS, NIGHT_RUN
from exchange.security.identity import Role
from exchange.settings import load_settings
from tests.commands import tongban_in_process
from tests.profiles import GM
from tests.servers import dev_environment

CITIZENS = 200


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("demo-history")
    data = workdir / "demo"
    built = tongban_in_process(
        workdir, "demo", "--data", str(data), "--citizens", str(CITIZENS), "--traffic", "--json",
        env=dev_environment(),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    summary = json.loads(built.stdout)
    assert summary["traffic"]["consents_revoked"] == 2
    assert summary["traffic"]["days"] == HISTORY_DAYS
    assert summary["consents"] == ["approved", "pending"]
    return data


@pytest.fixture(scope="module")
def client(demo_dir: Path) -> Iterator[TestClient]:
    settings = load_settings(config_file=demo_dir / "tongban.toml", default_mode="dev")
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _get(client: TestClient, path: str, role: Role) -> dict[str, Any]:
    identity = client.app.state.hub.identity  # type: ignore[attr-defined]
    token = identity.issue_dev_token("officer-001", role, None)
    response = client.get(path, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_auditors_charts_show_both_departments_denials_and_purposes(
    client: TestClient,
) -> None:
    stats = _get(client, "/audit/stats", Role.AUDITOR)
    departments = {row["department"] for row in stats["per_day_department"]}
    assert {"EDU", "MCA"} <= departments
    assert sum(row["count"] for row in stats["per_day_department"]) > BURST
    assert sum(day["denied"] for day in stats["denials"]["per_day"]) >= 3
    refused = {row["system"]: row["denied"] for row in stats["denials"]["per_system"]}
    assert refused["edu-enrolment"] >= 3  # asked outside its registered purpose
    purposes = {row["purpose"] for row in stats["top_purposes"]}
    assert {"school-enrolment", "minimum-living-allowance"} <= purposes
    assert len(stats["days"]) >= 30  # the default window: the month up to now


def test_the_history_spans_the_weeks_before_today_in_order(client: TestClient) -> None:
    hub = client.app.state.hub  # type: ignore[attr-defined]
    with unit_of_work(hub.sessions) as session:
        times = list(session.scalars(select(AuditRecord.recorded_at).order_by(AuditRecord.index)))
    times = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in times]
    assert times == sorted(times)  # the simulated clock only moves forward
    assert times[-1] <= datetime.now(UTC)
    assert datetime.now(UTC) - times[0] > timedelta(days=HISTORY_DAYS - 1)
    stats = _get(client, "/audit/stats", Role.AUDITOR)
    busy = {row["day"] for row in stats["per_day_department"] if row["count"]}
    assert len(busy) >= HISTORY_DAYS - 2  # a month of charts, weekends included


def test_the_burst_and_the_night_run_are_flagged_and_routine_use_is_not(
    client: TestClient,
) -> None:
    anomalies = _get(client, "/audit/stats", Role.AUDITOR)["anomalies"]
    spikes = {a["system"] for a in anomalies if a["kind"] == "volume_spike"}
    assert spikes == {"mca-dibao"}
    nights = [a for a in anomalies if a["kind"] == "night_bulk"]
    assert [(a["system"], a["count"]) for a in nights] == [("edu-enrolment", NIGHT_RUN)]


def test_the_consent_given_and_withdrawn_is_in_the_log(client: TestClient) -> None:
    hub = client.app.state.hub  # type: ignore[attr-defined]
    with unit_of_work(hub.sessions) as session:
        outcomes = list(
            session.scalars(select(AuditRecord.outcome).where(AuditRecord.kind == "consent"))
        )
    assert outcomes.count("revoked") == 2
    # three standing (two withdrawn), one-time ones every fourth working day, the demo's own
    assert outcomes.count("given") >= 3 + 4 + 1


def test_the_operator_sees_every_job_run_once_and_a_checkpoint_over_the_traffic(
    client: TestClient,
) -> None:
    jobs = _get(client, "/jobs", Role.OPERATOR)["jobs"]
    assert jobs
    assert {job["id"]: job["last_run"]["outcome"] for job in jobs} == {
        job["id"]: "ok" for job in jobs
    }
    for job in jobs:
        detail = _get(client, f"/jobs/{job['id']}", Role.OPERATOR)["recent_runs"]
        nights = {r["scheduled_for"][:10] for r in detail if r["trigger"] == "scheduled"}
        assert len(nights) == len(detail) - 1 >= 5, job["id"]  # one a night, then the manual
    checkpoint = client.get("/audit/checkpoint")
    assert checkpoint.status_code == 200
    size = int(checkpoint.text.splitlines()[1])  # C2SP tlog-checkpoint: origin, size, root
    assert size > BURST


def test_audit_verify_passes_on_the_demo(demo_dir: Path) -> None:
    config = {"TONGBAN_CONFIG": str(demo_dir / "tongban.toml")}
    verified = tongban_in_process(
        demo_dir.parent, "audit", "verify", "--json", env=dev_environment(**config)
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True


def test_without_traffic_the_demo_log_holds_no_query(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    built = tongban_in_process(
        tmp_path, "demo", "--data", str(data), "--citizens", "50", "--json",
        env=dev_environment(),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "traffic" not in json.loads(built.stdout)
    settings = load_settings(config_file=data / "tongban.toml", default_mode="dev")
    with TestClient(create_app(settings)) as test_client:
        hub = test_client.app.state.hub  # type: ignore[attr-defined]
        with unit_of_work(hub.sessions) as session:
            kinds = set(session.scalars(select(AuditRecord.kind)))
    assert "query" not in kinds


def test_the_demo_says_what_history_it_wrote(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    built = tongban_in_process(
        tmp_path, "demo", "--data", str(data), "--citizens", "50", "--traffic",
        env=dev_environment(),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    line = next(x for x in built.stdout.splitlines() if x.strip().startswith("history"))
    assert f"{HISTORY_DAYS} days from" in line
    assert "(simulated clock)" in line
    assert "queries answered" in line


def _china_day(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(CHINA).date().isoformat()


def test_the_month_holds_the_sharing_lifecycle_spread_over_its_days(client: TestClient) -> None:
    """exchange.demo.lifecycle.lifecycle_history: each story through the real services, on its
    own day of the month, every step an audit entry, and what the authority's pages count."""
    hub = client.app.state.hub  # type: ignore[attr-defined]
    kinds = ("agreement", "catalogue", "demand", "dispute", "stewardship")
    with unit_of_work(hub.sessions) as session:
        stamped = session.execute(
            select(AuditRecord.kind, AuditRecord.recorded_at).where(AuditRecord.kind.in_(kinds))
        ).all()
    days = {kind: {_china_day(at) for k, at in stamped if k == kind} for kind in kinds}
    assert len(set().union(*days.values())) >= 15  # spread over the month, not one afternoon
    assert all(len(days[kind]) >= 2 for kind in kinds), days
    month_ago = (datetime.now(UTC) - timedelta(days=HISTORY_DAYS - 3)).astimezone(CHINA).date()
    assert min(min(d) for d in days.values()) <= month_ago.isoformat()

    agreements = _get(client, "/agreements?limit=100", Role.AUDITOR)["agreements"]
    filed = [a for a in agreements if a["form"] == "2025" and a["submitted_at"] < _days_ago(5)]
    noticed = [a for a in filed if a["materials_notice"] and a["materials_supplied_at"]]
    assert any(a["status"] == "approved" for a in noticed)  # notice, supply, approval
    extended = [a for a in filed if (a["extension"] or {}).get("status") == "approved"]
    assert any(a["status"] == "approved" for a in extended)
    assert any(a["status"] == "pending" and a["overdue"] for a in filed)  # never answered
    batch = [a for a in filed if (a["delivery"] or {}).get("channel") == "batch"]
    assert batch
    # the first chunk downloaded by the school system; under gm, which makes no extract, the
    # provider's officer records the delivery (exchange/demo/lifecycle.py)
    assert batch[0]["delivery"]["by"] == ("mca-sharing" if GM else "edu-enrolment")
    ended = [a for a in filed if a["status"] == "expired"]
    assert ended
    identity = hub.identity
    token = identity.issue_dev_token("dsj-reviewer", Role.DATA_AUTHORITY, None)
    headers = {"authorization": f"Bearer {token}"}
    kept = client.get(f"/authority/agreements/{ended[0]['id']}/usage-records", headers=headers)
    assert kept.status_code == 200
    assert kept.json()["disposals"] == []
    used = client.get(f"/authority/agreements/{batch[0]['id']}/usage-records", headers=headers)
    assert used.json()["usage_records"]

    submissions = client.get("/catalogue/submissions", headers=headers).json()["submissions"]
    assert any(s["status"] == "returned" and s["reasons"] for s in submissions)
    assert {s["resource"] for s in submissions if s["status"] == "published"} >= {
        "PSB-JZ-0001",
        "EDU-XJ-0001",
        "HRSS-GS-0001",
    }
    disputes = client.get("/authority/disputes", headers=headers).json()["disputes"]
    assert any(d["level"] == "authority" for d in disputes)  # negotiated, then taken up


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()
