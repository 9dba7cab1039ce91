"""``tongban jobs``, ``tongban jobs run`` and ``tongban worker`` as an operator runs them: real
processes on a SQLite hub database (the listing, help and setup commands in this process,
:mod:`tests.commands`). A real fault (an audit head that does not match its tree)
makes ``audit.checkpoint`` fail after its retries; it shows as failing in ``tongban jobs
--json`` and ``GET /jobs`` until a later run succeeds."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from exchange.app import create_app
from exchange.security.identity import Role
from exchange.settings import Settings
from tests.exchange.test_cli import TONGBAN, here, run
from tests.profiles import TREE_HASH
from tests.servers import dev_environment


def env_for(db: Path, **extra: str) -> dict[str, str]:
    return {
        "TONGBAN_DATABASE_URL": f"sqlite:///{db}",
        "TONGBAN_ADAPTERS_FILE": str(db.parent / "no-adapters.json"),
        **extra,
    }


def jobs_json(workdir: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = here(workdir, "jobs", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {job["id"]: job for job in json.loads(result.stdout)["jobs"]}


def set_head_root(engine: Engine, root: bytes) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_head SET root = :root"), {"root": root})


def test_help_and_exit_codes(tmp_path: Path) -> None:
    env = env_for(tmp_path / "hub.db")
    for args in (("jobs", "--help"), ("jobs", "run", "--help"), ("worker", "--help")):
        result = here(tmp_path, *args, env=env)
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout
    unknown = here(tmp_path, "jobs", "run", "no.such.job", env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.count("\n") == 1
    assert unknown.stderr.startswith("tongban: no job named 'no.such.job'")
    table = here(tmp_path, "jobs", env=env)
    assert table.returncode == 0
    assert "sweep.tokens" in table.stdout
    listed = jobs_json(tmp_path, env)
    assert {
        "sweep.tokens",
        "sweep.agreements",
        "sweep.budgets",
        "audit.checkpoint",
        "sweep.job_runs",
    } <= set(listed)
    assert all(job["last_run"] is None and not job["failing"] for job in listed.values())


def test_a_failing_job_retries_shows_failing_then_recovers(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    env = env_for(db)
    assert here(tmp_path, "db", "upgrade", env=env).returncode == 0
    engine = create_engine(f"sqlite:///{db}")
    set_head_root(engine, b"\x00" * 32)  # the head no longer matches the (empty) tree

    began = time.monotonic()
    failed = run(tmp_path, "jobs", "run", "audit.checkpoint", env=env)
    assert time.monotonic() - began >= 3  # waited 1 s, then 2 s, between three attempts
    assert failed.returncode == 1
    assert failed.stderr == (
        "tongban: audit.checkpoint failed after 3 attempt(s): InconsistentLog\n"
    )
    job = jobs_json(tmp_path, env)["audit.checkpoint"]
    assert job["failing"] is True
    assert job["last_run"]["attempt"] == 3
    assert job["last_run"]["trigger"] == "manual"
    assert job["last_run"]["error"] == {
        "class": "InconsistentLog",
        "message": "the stored tree does not give the head's root",
    }
    settings = Settings(database_url=f"sqlite:///{db}", adapters_file=None, scheduler="off")
    with TestClient(create_app(settings)) as client:
        identity = client.app.state.hub.identity  # type: ignore[attr-defined]
        token = identity.issue_dev_token("ops-1", Role.OPERATOR, None)
        seen = client.get("/jobs/audit.checkpoint", headers={"Authorization": f"Bearer {token}"})
    assert seen.json()["failing"] is True
    assert [r["attempt"] for r in seen.json()["recent_runs"]] == [3, 2, 1]

    set_head_root(engine, hashlib.new(TREE_HASH, b"").digest())  # repaired: the empty tree's
    fixed = run(tmp_path, "jobs", "run", "audit.checkpoint", "--json", env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["failing"] is False
    job = jobs_json(tmp_path, env)["audit.checkpoint"]
    assert (job["failing"], job["last_run"]["outcome"], job["last_run"]["rows"]) == (False, "ok", 1)
    engine.dispose()


def test_the_worker_runs_the_jobs_until_terminated(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    env = {**env_for(db, TONGBAN_CHECKPOINT_INTERVAL_S="1")}
    assert run(tmp_path, "db", "upgrade", env=env).returncode == 0  # `db` through the script
    inherited = dev_environment()
    worker = subprocess.Popen(
        [TONGBAN, "worker"],
        cwd=tmp_path,
        env={**inherited, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = create_engine(f"sqlite:///{db}")
    try:
        deadline = time.monotonic() + 30
        ran = 0
        while time.monotonic() < deadline and ran == 0:
            time.sleep(0.5)
            with engine.connect() as connection:
                ran = connection.execute(
                    text(
                        "SELECT COUNT(*) FROM job_runs"
                        " WHERE job_id = 'audit.checkpoint' AND outcome = 'ok'"
                    )
                ).scalar_one()
        assert ran >= 1
    finally:
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=30)
        engine.dispose()
    assert worker.returncode == 0, stderr
    assert "Tongban worker stopped" in stdout
    job = jobs_json(tmp_path, env)["audit.checkpoint"]
    assert job["scheduled"] is True
    assert job["last_run"]["trigger"] == "scheduled"
