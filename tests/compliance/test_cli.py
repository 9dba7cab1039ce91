"""``tongban compliance clocks|breaches|report`` on SQLite and PostgreSQL: the same clocks,
breaches and report as the API, in Chinese tables, as JSON and as the CSV to file; bad input is
a one-line reason and a non-zero exit; ``--overdue`` and ``--open`` exit non-zero when
anything is listed."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.agreements.workdays import CHINA_TZ
from exchange.hub import Hub
from exchange.security.identity import Role
from tests.commands import tongban_in_process
from tests.compliance.conftest import Story
from tests.servers import TONGBAN, dev_environment


def test_the_command_line_shows_clocks_breaches_and_the_report(
    client: TestClient, hub: Hub, story: Story, database_url: str, tmp_path: Path
) -> None:
    env = dev_environment(
        TONGBAN_DATABASE_URL=database_url,
        TONGBAN_SECRET_KEY=hub.settings.secret_key.get_secret_value(),
    )

    def tongban(*args: str) -> Any:
        return tongban_in_process(tmp_path, *args, env=env)

    token = hub.identity.issue_dev_token("dsj-1", Role.DATA_AUTHORITY, None)
    headers = {"Authorization": f"Bearer {token}"}
    over_http = client.get("/authority/compliance/breaches", headers=headers).json()

    listed = tongban("compliance", "breaches", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["breaches"] == over_http["breaches"]
    table = tongban("compliance", "breaches", "--kind", "late_reply")
    assert table.returncode == 0, table.stderr
    assert "未按时答复共享申请" in table.stdout
    assert "第三十九条" in table.stdout
    assert story.late_reply in table.stdout
    still_open = tongban("compliance", "breaches", "--open", "--department", "REG")
    assert still_open.returncode != 0
    assert "breaches not put right" in still_open.stderr

    clocks = tongban("compliance", "clocks", "--json")
    assert clocks.returncode == 0, clocks.stderr
    ids = {(c["kind"], c["case"]["id"]) for c in json.loads(clocks.stdout)}
    assert ("application_reply", story.running_reply) in ids
    overdue = tongban("compliance", "clocks", "--overdue")
    assert overdue.returncode != 0
    assert "共享申请答复" in overdue.stdout
    assert "逾期" in overdue.stdout

    month = next(b for b in over_http["breaches"] if b["kind"] == "late_reply")["occurred_on"][:7]
    shown = tongban("compliance", "report", "--month", month)
    assert shown.returncode == 0, shown.stderr
    assert f"合规情况月报 {month}" in shown.stdout
    assert "数据主管部门" in shown.stdout
    out = tmp_path / "report.csv"
    written = tongban("compliance", "report", "--month", month, "--out", str(out))
    assert written.returncode == 0, written.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    http = client.get(
        "/authority/compliance/report", params={"month": month}, headers=headers
    ).json()
    city = next(r for r in rows if r["类别"] == "全市")
    assert int(city["违规合计"]) == http["total"]["total"] > 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")

    future = (datetime.now(UTC) + timedelta(days=40)).astimezone(CHINA_TZ).strftime("%Y-%m")
    refused = tongban("compliance", "report", "--month", future)
    assert refused.returncode != 0
    assert "the month has not begun yet" in refused.stderr
    unknown = tongban("compliance", "clocks", "--department", "NOPE")
    assert unknown.returncode != 0
    assert "NOPE" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


@pytest.mark.serves
def test_the_installed_script_refuses_a_malformed_month_in_one_line(
    database_url: str, tmp_path: Path
) -> None:
    env = dev_environment(TONGBAN_DATABASE_URL=database_url)
    done = subprocess.run(
        [TONGBAN, "compliance", "report", "--month", "2026-13"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "month" in done.stderr
