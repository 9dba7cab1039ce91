"""Update duties with their clock and one extension, and supply-demand requests routed by the
authority and answered by the provider on a clock, over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from exchange.agreements.workdays import add_working_days, china_day, official_calendar
from exchange.lifecycle.clocks import clock_view, due_after
from exchange.lifecycle.models import DataDemand, UpdateDuty
from exchange.security.identity import Role
from tests.exchange.test_api_catalogue import assert_problem
from tests.lifecycle.test_review_api import ready

pytestmark = pytest.mark.usefixtures("demo_catalogue")

Headers = Callable[..., dict[str, str]]


def backdate(client: TestClient, table: Any, row_id: str, **values: date) -> None:
    """Move a clock into the past, as if the days had gone by."""
    sessions = client.app.state.hub.sessions  # type: ignore[attr-defined]
    with sessions.begin() as session:
        session.execute(update(table).where(table.id == row_id).values(**values))


def open_duty(client: TestClient, as_staff: Headers) -> dict[str, Any]:
    response = client.post(
        "/catalogue/resources/MCA-SW-0001/update-duties",
        json={"reason": "《殡葬管理条例》修订，死亡登记信息项须调整。"},
        headers=as_staff(Role.DATA_AUTHORITY, "BDB"),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_update_duty_runs_on_its_clock_with_one_approved_extension(
    client: TestClient, as_staff: Headers
) -> None:
    duty = open_duty(client, as_staff)
    assert duty["clock"]["due_on"] == due_after(datetime.now(UTC), 10).isoformat()
    again = client.post(
        "/catalogue/resources/MCA-SW-0001/update-duties",
        json={"reason": "再次"},
        headers=as_staff(Role.DATA_AUTHORITY, "BDB"),
    )
    assert_problem(again, 409, "update_duty_open")
    mca = as_staff(Role.DEPARTMENT_ADMIN, "MCA")
    path = f"/catalogue/update-duties/{duty['id']}"
    early = client.post(
        f"{path}/extension/decision",
        json={"approve": True},
        headers=as_staff(Role.DATA_AUTHORITY, "BDB"),
    )
    assert_problem(early, 409, "extension_not_asked")
    asked = client.post(f"{path}/extension", json={"reason": "需征求公安部门意见"}, headers=mca)
    assert asked.json()["extension"]["status"] == "asked"
    twice = client.post(f"{path}/extension", json={"reason": "再延"}, headers=mca)
    assert_problem(twice, 409, "extension_already_asked")
    own = client.post(
        f"{path}/extension/decision",
        json={"approve": True},
        headers=as_staff(Role.DATA_AUTHORITY, "MCA"),
    )
    assert_problem(own, 403, "reviewer_own_department")
    refused = client.post(
        f"{path}/extension/decision",
        json={"approve": False},
        headers=as_staff(Role.DATA_AUTHORITY, "BDB"),
    )
    assert_problem(refused, 422, "reasons_required")
    approved = client.post(
        f"{path}/extension/decision",
        json={"approve": True},
        headers=as_staff(Role.DATA_AUTHORITY, "BDB"),
    ).json()
    old_due = date.fromisoformat(duty["clock"]["due_on"])
    assert (
        approved["clock"]["due_on"] == add_working_days(old_due, 5, official_calendar()).isoformat()
    )
    assert [s["event"] for s in approved["steps"]] == ["duty_opened", "extension_asked", "extended"]


def test_an_overdue_duty_shows_to_the_department_and_the_authority_and_a_late_extension_is_refused(
    client: TestClient, as_staff: Headers
) -> None:
    duty = open_duty(client, as_staff)
    yesterday = china_day(datetime.now(UTC)) - timedelta(days=1)
    backdate(client, UpdateDuty, duty["id"], due_on=yesterday)
    for headers in (as_staff(Role.DEPARTMENT_ADMIN, "MCA"), as_staff(Role.DATA_AUTHORITY, "BDB")):
        overdue = client.get(
            "/catalogue/update-duties", params={"overdue": "true"}, headers=headers
        ).json()["duties"]
        assert [d["id"] for d in overdue] == [duty["id"]]
        assert overdue[0]["clock"]["overdue"] is True
    hidden = client.get("/catalogue/update-duties", headers=as_staff(Role.DEPARTMENT_ADMIN, "PSB"))
    assert hidden.json()["duties"] == []
    late = client.post(
        f"/catalogue/update-duties/{duty['id']}/extension",
        json={"reason": "来不及"},
        headers=as_staff(Role.DEPARTMENT_ADMIN, "MCA"),
    )
    assert_problem(late, 409, "clock_expired")


def test_a_reviewed_publication_fulfils_the_open_duty(
    client: TestClient, as_staff: Headers
) -> None:
    from tests.lifecycle.conftest import demo_resource

    duty = open_duty(client, as_staff)
    document = demo_resource("MCA-SW-0001")
    document["summary"] = "按修订后的《殡葬管理条例》调整。"
    sid = ready(client, as_staff, document)
    client.post(
        f"/catalogue/submissions/{sid}/review",
        json={"decision": "publish"},
        headers=as_staff(Role.DATA_AUTHORITY, "BDB"),
    )
    done = client.get(
        f"/catalogue/update-duties/{duty['id']}", headers=as_staff(Role.DEPARTMENT_ADMIN, "MCA")
    ).json()
    assert (done["status"], done["fulfilled_version"], done["late"]) == ("fulfilled", 2, False)
    assert done["clock"]["overdue"] is False


DEMAND = {
    "title": "养老机构入住人员信息",
    "wanted": "入住人员姓名、公民身份号码、入住日期",
    "basis": "《养老机构管理办法》第十八条",
    "scenario": "高龄津贴发放核查",
    "scope": "本市各级民政部门",
    "method": "interface",
}


def file(client: TestClient, as_staff: Headers) -> dict[str, Any]:
    term = (date.today() + timedelta(days=365)).isoformat()
    response = client.post(
        "/demands",
        json={**DEMAND, "term_until": term},
        headers=as_staff(Role.DEPARTMENT_ADMIN, "HRSS"),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_demand_is_routed_and_connected_and_the_requester_sees_each_step(
    client: TestClient, as_staff: Headers
) -> None:
    demand = file(client, as_staff)
    assert demand["routing"]["due_on"] == due_after(datetime.now(UTC), 5).isoformat()
    authority = as_staff(Role.DATA_AUTHORITY, "BDB")
    to_self = client.post(
        f"/demands/{demand['id']}/route", json={"provider": "HRSS"}, headers=authority
    )
    assert_problem(to_self, 422, "invalid_demand")
    routed = client.post(
        f"/demands/{demand['id']}/route",
        json={"provider": "MCA", "note": "民政局掌握养老机构数据"},
        headers=authority,
    )
    assert routed.json()["reply"]["due_on"] == due_after(datetime.now(UTC), 10).isoformat()
    mca = as_staff(Role.DEPARTMENT_ADMIN, "MCA")
    wrong = client.post(
        f"/demands/{demand['id']}/reply",
        json={"decision": "connect", "resource": "PSB-HJ-0001"},
        headers=mca,
    )
    assert_problem(wrong, 422, "demand_resource_invalid")
    no_reason = client.post(
        f"/demands/{demand['id']}/reply", json={"decision": "refuse"}, headers=mca
    )
    assert_problem(no_reason, 422, "reasons_required")
    client.post(
        f"/demands/{demand['id']}/reply",
        json={"decision": "connect", "resource": "MCA-DB-0001"},
        headers=mca,
    )
    seen = client.get(f"/demands/{demand['id']}", headers=as_staff(Role.DEPARTMENT_ADMIN, "HRSS"))
    body = seen.json()
    assert (body["status"], body["resource"]) == ("connected", "MCA-DB-0001")
    assert [(s["event"], s["department"]) for s in body["steps"]] == [
        ("filed", "HRSS"),
        ("routed", "BDB"),
        ("connected", "MCA"),
    ]
    hidden = client.get(f"/demands/{demand['id']}", headers=as_staff(Role.DEPARTMENT_ADMIN, "PSB"))
    assert_problem(hidden, 404, "demand_not_found")


def test_an_answer_after_the_reply_clock_is_refused_and_the_authority_routes_again(
    client: TestClient, as_staff: Headers
) -> None:
    demand = file(client, as_staff)
    authority = as_staff(Role.DATA_AUTHORITY, "BDB")
    client.post(f"/demands/{demand['id']}/route", json={"provider": "MCA"}, headers=authority)
    yesterday = china_day(datetime.now(UTC)) - timedelta(days=1)
    backdate(client, DataDemand, demand["id"], reply_due_on=yesterday)
    late = client.post(
        f"/demands/{demand['id']}/reply",
        json={"decision": "refuse", "reasons": "无此数据"},
        headers=as_staff(Role.DEPARTMENT_ADMIN, "MCA"),
    )
    assert_problem(late, 409, "clock_expired")
    overdue = client.get("/demands", params={"overdue": "true"}, headers=authority).json()
    assert [d["id"] for d in overdue["demands"]] == [demand["id"]]
    again = client.post(
        f"/demands/{demand['id']}/route", json={"provider": "PSB"}, headers=authority
    )
    assert again.json()["provider"] == "PSB"
    assert again.json()["reply"]["overdue"] is False


@pytest.mark.parametrize("missing", ["basis", "scenario", "scope", "method", "term_until"])
def test_a_demand_missing_any_element_is_refused(
    client: TestClient, as_staff: Headers, missing: str
) -> None:
    body = {**DEMAND, "term_until": (date.today() + timedelta(days=30)).isoformat()}
    del body[missing]
    response = client.post("/demands", json=body, headers=as_staff(Role.DEPARTMENT_ADMIN, "HRSS"))
    problem = assert_problem(response, 422, "malformed_request")
    assert problem["errors"][0]["pointer"] == f"/{missing}"
    listed = client.get("/demands", headers=as_staff(Role.DATA_AUTHORITY, "BDB")).json()
    assert listed["demands"] == []


def test_a_term_of_use_in_the_past_is_refused(client: TestClient, as_staff: Headers) -> None:
    body = {**DEMAND, "term_until": "2020-01-01"}
    response = client.post("/demands", json=body, headers=as_staff(Role.DEPARTMENT_ADMIN, "HRSS"))
    assert_problem(response, 422, "invalid_demand")


def test_a_clock_counts_working_days_with_make_up_weekends() -> None:
    """2026-10-01 to 10-07 is the National Day holiday; Saturday 10-10 is worked (调休)."""
    wednesday = datetime(2026, 9, 30, 2, tzinfo=UTC)  # 10:00 China time
    assert due_after(wednesday, 2).isoformat() == "2026-10-09"
    assert due_after(wednesday, 3).isoformat() == "2026-10-10"
    view = clock_view(date(2026, 10, 10), wednesday)
    assert (view["working_days_left"], view["overdue"]) == (3, False)
    late = clock_view(date(2026, 10, 9), datetime(2026, 10, 12, 2, tzinfo=UTC))
    assert (late["working_days_left"], late["overdue"]) == (-2, True)
