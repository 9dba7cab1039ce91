"""``tongban disputes`` and ``tongban stewardship`` (the data authority at the hub's machine),
on SQLite and PostgreSQL: the list and a dispute with its clock, the decision refused without
reasons and recorded with them; an agreement suspended, shown, and reinstated."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from exchange.hub import Hub
from exchange.security.identity import Role
from tests.commands import tongban_in_process
from tests.servers import dev_environment

AGREEMENT = "AG-DEMO-EDU-REG-0001"


def _headers(hub: Hub, sub: str, department: str) -> dict[str, str]:
    token = hub.identity.issue_dev_token(sub, Role.DEPARTMENT_ADMIN, department)
    return {"authorization": f"Bearer {token}"}


def test_the_authority_lists_decides_suspends_and_reinstates_from_the_command_line(
    client: TestClient, demo_world: Path, database_url: str, tmp_path: Path
) -> None:
    hub: Hub = client.app.state.hub  # type: ignore[attr-defined]
    env = dev_environment(
        TONGBAN_DATABASE_URL=database_url,
        TONGBAN_SECRET_KEY=hub.settings.secret_key.get_secret_value(),
    )

    def tongban(*args: str) -> Any:
        return tongban_in_process(tmp_path, *args, env=env)

    edu, reg = _headers(hub, "edu-1", "EDU"), _headers(hub, "reg-1", "REG")
    body = {
        "respondent": "REG",
        "matter": {"kind": "agreement", "id": AGREEMENT},
        "statement": "未按协议提供坐落字段",
    }
    dispute = client.post("/department/disputes", json=body, headers=edu).json()
    path = f"/department/disputes/{dispute['id']}"
    client.post(f"{path}/positions", json={"text": "不在共享范围"}, headers=reg)
    up = client.post(f"{path}/escalate", json={"to": "authority", "reasons": "未果"}, headers=reg)
    assert up.status_code == 200, up.text

    listed = tongban("disputes", "list", "--status", "open", "--json")
    assert listed.returncode == 0, listed.stderr
    [shown] = json.loads(listed.stdout)["disputes"]
    assert shown["level"] == "authority"
    assert shown["clock"]["running"]
    table = tongban("disputes", "list")
    assert "主管部门协调" in table.stdout
    assert "演示市不动产登记中心" in table.stdout

    refused = tongban("disputes", "decide", dispute["id"], "--by", "dsj-1", "--decision", "提供")
    assert refused.returncode != 0
    assert refused.stderr.startswith("tongban: ")
    assert "reasons" in refused.stderr
    decided = tongban(
        "disputes",
        "decide",
        dispute["id"],
        "--by",
        "dsj-1",
        "--decision",
        "提供",
        "--reasons",
        "属于约定的使用场景",
        "--json",
    )
    assert decided.returncode == 0, decided.stderr
    assert json.loads(decided.stdout)["status"] == "decided"

    remedy_by = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    suspended = tongban(
        "stewardship",
        "suspend",
        AGREEMENT,
        "--by",
        "dsj-1",
        "--reasons",
        "超范围使用",
        "--remedy-by",
        remedy_by,
        "--json",
    )
    assert suspended.returncode == 0, suspended.stderr
    assert [s["status"] for s in json.loads(suspended.stdout)["suspensions"]] == ["suspended"]
    again = tongban(
        "stewardship",
        "suspend",
        AGREEMENT,
        "--by",
        "dsj-1",
        "--reasons",
        "x",
        "--remedy-by",
        remedy_by,
    )
    assert again.returncode != 0
    back = tongban("stewardship", "reinstate", AGREEMENT, "--by", "dsj-1", "--note", "已整改")
    assert back.returncode == 0, back.stderr
    assert "已恢复" in back.stdout
