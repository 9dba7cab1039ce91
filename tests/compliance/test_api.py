"""The compliance view over HTTP: only the data authority reads it (everyone else gets 403
problem+json), bad input is a precise problem+json, the overview's trend and per-department
figures, and the monthly report as JSON and as a CSV that parses back (UTF-8 with BOM,
formula-safe)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from catalogue.models import Department
from exchange.agreements.workdays import CHINA_TZ
from exchange.compliance.report import safe_cell
from exchange.db import unit_of_work
from exchange.hub import Hub
from exchange.security.identity import Role
from tests.compliance.conftest import Headers, Story

PROBLEM = "application/problem+json"
ROUTES = (
    "/authority/compliance",
    "/authority/compliance/clocks",
    "/authority/compliance/breaches",
    "/authority/compliance/report",
    "/authority/compliance/report?format=csv",
)


def problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    return body


def _month(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m")


@pytest.mark.parametrize(
    ("role", "department"),
    [
        (Role.DEPARTMENT_ADMIN, "REG"),
        (Role.SHARING_OFFICER, "EDU"),
        (Role.DEPARTMENT_HEAD, "MCA"),
        (Role.AUDITOR, None),
        (Role.OPERATOR, None),
    ],
)
def test_only_the_data_authority_reads_the_compliance_view(
    client: TestClient, hub: Hub, as_role: Callable[..., Headers], role: Role, department: str
) -> None:
    for route in ROUTES:
        problem(client.get(route, headers=as_role(role, department)), 403, "forbidden")
    for route in ROUTES:
        answer = client.get(route)
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith(PROBLEM)
    for route in ROUTES:
        assert client.get(route, headers=as_role(Role.DATA_AUTHORITY)).status_code == 200


def test_a_citizen_is_refused_too(client: TestClient, hub: Hub) -> None:
    token = hub.identity.issue_dev_token("11010519491231002X", Role.CITIZEN, None)
    answer = client.get("/authority/compliance", headers={"Authorization": f"Bearer {token}"})
    body = problem(answer, 403, "forbidden")
    assert "11010519491231002X" not in answer.text
    assert "authority" in body["detail"]


def test_bad_input_is_a_precise_problem(
    client: TestClient, hub: Hub, as_role: Callable[..., Headers]
) -> None:
    headers = as_role(Role.DATA_AUTHORITY)
    for month in ("2026-13", "26-01", "2026-1", "next"):
        body = problem(
            client.get("/authority/compliance/report", params={"month": month}, headers=headers),
            422,
            "malformed_request",
        )
        assert body["errors"][0]["pointer"] == "/month", body
    future = _month(datetime.now(UTC) + timedelta(days=40))
    body = problem(
        client.get("/authority/compliance/breaches", params={"month": future}, headers=headers),
        422,
        "malformed_request",
    )
    assert body["errors"] == [{"pointer": "/month", "detail": "the month has not begun yet"}]
    for route in (
        "/authority/compliance",
        "/authority/compliance/clocks",
        "/authority/compliance/breaches",
    ):
        body = problem(
            client.get(route, params={"department": "NOPE"}, headers=headers),
            404,
            "department_not_found",
        )
        assert "NOPE" in body["detail"]
    body = problem(
        client.get("/authority/compliance/breaches", params={"kind": "late"}, headers=headers),
        422,
        "malformed_request",
    )
    assert body["errors"][0]["pointer"] == "/kind"
    problem(
        client.get("/authority/compliance/report", params={"format": "xls"}, headers=headers),
        422,
        "malformed_request",
    )


def test_the_overview_has_clocks_figures_per_department_and_the_trend(
    client: TestClient, story: Story, as_role: Callable[..., Headers]
) -> None:
    headers = as_role(Role.DATA_AUTHORITY)
    view = client.get("/authority/compliance", headers=headers).json()
    assert len(view["trend"]["months"]) == 12
    assert view["trend"]["months"][-1] == _month(datetime.now(UTC))
    by_kind = {p["month"]: p for p in view["trend"]["by_kind"]}
    start_month = _month(story.start + timedelta(days=1))
    assert start_month in by_kind
    total = sum(p["total"] for p in view["trend"]["by_kind"])
    assert total == len(
        client.get("/authority/compliance/breaches", headers=headers).json()["breaches"]
    )
    departments = {row["key"]: row for row in view["departments"]}
    assert departments["REG"]["open_breaches"] >= 2  # the late reply, the late demand reply
    assert departments["authority"]["open_breaches"] == 4  # review, extension, routing, dispute
    assert departments["authority"]["department"] is None
    assert {b["kind"] for b in view["open_breaches"]} >= {"late_reply", "late_review"}
    assert all(b["open"] for b in view["open_breaches"])
    assert [k["kind"] for k in view["kinds"]][:2] == ["late_reply", "late_delivery"]
    # one department's view
    reg = client.get("/authority/compliance", params={"department": "REG"}, headers=headers).json()
    assert {c["department"] for c in reg["clocks"]} == {"REG"}
    assert {b["department"] for b in reg["open_breaches"]} == {"REG"}
    assert {d["code"] for d in reg["registry"]} >= {"REG", "EDU", "MCA", "PSB"}  # to choose from


def test_the_monthly_report_per_department_and_article_as_json_and_csv(
    client: TestClient, story: Story, as_role: Callable[..., Headers]
) -> None:
    headers = as_role(Role.DATA_AUTHORITY)
    everything = client.get("/authority/compliance/breaches", headers=headers).json()["breaches"]
    months = {b["occurred_on"][:7] for b in everything}
    for month in sorted(months):
        report = client.get(
            "/authority/compliance/report", params={"month": month}, headers=headers
        ).json()
        in_month = [b for b in everything if b["occurred_on"].startswith(month)]
        assert report["total"]["total"] == len(in_month) == len(report["breaches"])
        assert sum(a["count"] for a in report["articles"]) == len(in_month)
        assert report["complete"] is (month != _month(datetime.now(UTC)))
        answer = client.get(
            "/authority/compliance/report",
            params={"month": month, "format": "csv"},
            headers=headers,
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        assert f"tongban-compliance-{month}.csv" in answer.headers["content-disposition"]
        assert answer.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
        by_code = {r["部门代码"]: r for r in rows if r["类别"] == "部门"}
        assert set(by_code) >= {"REG", "EDU", "MCA", "PSB"}
        city = next(r for r in rows if r["类别"] == "全市")
        assert int(city["违规合计"]) == len(in_month)
        assert sum(int(r["违规合计"]) for r in rows if r["类别"] != "全市") == len(in_month)
        for row in report["rows"]:
            if row["department"]:
                assert int(by_code[row["department"]]["违规合计"]) == row["total"]
        article_39 = sum(int(r["第三十九条合计"]) for r in rows if r["类别"] == "部门")
        assert article_39 == sum(1 for b in in_month if b["article"]["number"] == 39)
    late = next(b for b in everything if b["kind"] == "late_reply")
    month = late["occurred_on"][:7]
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(
                    "/authority/compliance/report",
                    params={"month": month, "format": "csv"},
                    headers=headers,
                ).content.decode("utf-8-sig")
            )
        )
    )
    reg = next(r for r in rows if r["部门代码"] == "REG")
    assert int(reg["未按时答复共享申请（第三十九条）"]) >= 1


def test_the_csv_is_safe_from_formula_injection(
    client: TestClient, story: Story, hub: Hub, as_role: Callable[..., Headers]
) -> None:
    with unit_of_work(hub.sessions, write=True) as session:
        session.execute(
            update(Department).where(Department.code == "REG").values(name='=HYPERLINK("x")')
        )
    month = _month(datetime.now(UTC))
    answer = client.get(
        "/authority/compliance/report",
        params={"month": month, "format": "csv"},
        headers=as_role(Role.DATA_AUTHORITY),
    )
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    reg = next(r for r in rows if r["部门代码"] == "REG")
    assert reg["部门名称"] == '\'=HYPERLINK("x")'
    assert [safe_cell(v) for v in ("+1", "-x", "@a", "\tb", 3, -2, None, "民政局")] == [
        "'+1",
        "'-x",
        "'@a",
        "'\tb",
        "3",
        "-2",
        "",
        "民政局",
    ]
