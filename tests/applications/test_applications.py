"""Applications in the 2025 form and their replies, on their clocks (《政务数据共享条例》 art.
20-22), over HTTP with dev-IdP tokens: sign-off by sharing officers, the one notice of missing
materials and the stopped clock, the one extension approved by the data authority, refusals
with reasons, late answers, conditions the catalogue does not declare, and the delivery clock.
Every refusal is a precise problem+json that changes nothing; every step is an audit entry."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from catalogue.descriptors import check_descriptor
from catalogue.models import Resource, ResourceVersion
from catalogue.publishing import publish
from exchange.agreements.applications import ReplyClocks, working_day_after
from exchange.agreements.models import Agreement
from exchange.agreements.service import apply_for_agreement
from exchange.cli.agreements import agreements_app
from exchange.db import unit_of_work
from exchange.demo.build import DEMO_SYSTEMS
from exchange.security.identity import DEV_IDP_ISSUER, Principal, Role
from exchange.settings import Settings
from tests import factories

PROBLEM = "application/problem+json"
PROPERTY = "REG-BDC-0001"  # 不动产: conditional fields; channels interface and file
DIBAO = "MCA-DB-0001"  # 低保: `receiving` unconditional; channels interface and database
Headers = dict[str, str]


@pytest.fixture(autouse=True)
def systems(sessions: sessionmaker[Session], now: datetime, demo_catalogue: None) -> None:
    with unit_of_work(sessions) as session:
        for spec in DEMO_SYSTEMS:
            factories.system(
                session, spec["id"], spec["department"], now=now, purposes=spec["purposes"]
            )


@pytest.fixture
def token(client: TestClient) -> Callable[..., Headers]:
    identity = client.app.state.hub.identity  # type: ignore[attr-defined]

    def issue(role: Role, department: str | None = None, sub: str | None = None) -> Headers:
        subject = sub or f"{role.value}-{(department or 'x').lower()}"
        jwt = identity.issue_dev_token(subject, role, department)
        return {"Authorization": f"Bearer {jwt}"}

    return issue


def body(**overrides: Any) -> dict[str, Any]:
    application: dict[str, Any] = {
        "system": "edu-enrolment",
        "resource": PROPERTY,
        "fields": ["certificate_no", "address"],
        "purpose": "school-enrolment",
        "legal_basis": "《中华人民共和国义务教育法》第十二条",
        "justification": "入学登记核验适龄儿童家庭住房情况。",
        "valid_until": (datetime.now(UTC).date() + timedelta(days=365)).isoformat(),
        "use": {
            "scenario": {"description": "义务教育入学登记", "service_item": "EDU-RXDJ-001"},
            "scope": {"population": "named", "description": "本市申请入学儿童的监护人"},
            "sharing_modes": ["interface"],
        },
    }
    application.update(overrides)
    return application


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    answer: dict[str, Any] = response.json()
    assert answer["code"] == code, answer
    return answer


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_an_application_is_signed_off_by_the_consumers_sharing_officer(
    client: TestClient, token: Callable[..., Headers]
) -> None:
    as_admin = client.post("/agreements", json=body(), headers=token(Role.DEPARTMENT_ADMIN, "EDU"))
    problem(as_admin, 403, "forbidden")
    other = client.post("/agreements", json=body(), headers=token(Role.SHARING_OFFICER, "MCA"))
    problem(other, 403, "forbidden")
    filed = ok(
        client.post("/agreements", json=body(), headers=token(Role.SHARING_OFFICER, "EDU")), 201
    )
    assert (filed["form"], filed["reply_working_days"], filed["missing_materials"]) == (
        "2025",
        10,
        [],
    )
    today = datetime.now(UTC)
    assert date.fromisoformat(filed["due_by"]) == working_day_after(today, 10)
    assert filed["history"][0]["role"] == "sharing_officer"
    assert [e["event"] for e in filed["log"]] == ["applied"]
    # the provider's reply is signed off by its sharing officer, not its admin
    url = f"/agreements/{filed['id']}/decision"
    refuse = {"decision": "refuse", "reason": "申请用途与信息项不符"}
    problem(
        client.post(url, json=refuse, headers=token(Role.DEPARTMENT_ADMIN, "REG")), 403, "forbidden"
    )
    refused = ok(client.post(url, json=refuse, headers=token(Role.SHARING_OFFICER, "REG")))
    assert refused["status"] == "refused"
    assert refused["decision"]["reason"] == "申请用途与信息项不符"


def test_unconditional_data_is_answered_in_one_working_day_and_only_for_batch_or_file(
    client: TestClient, token: Callable[..., Headers]
) -> None:
    officer = token(Role.SHARING_OFFICER, "EDU")
    use = {**body()["use"], "sharing_modes": ["batch"]}
    filed = ok(
        client.post(
            "/agreements", json=body(resource=DIBAO, fields=["receiving"], use=use), headers=officer
        ),
        201,
    )
    assert filed["reply_working_days"] == 1
    assert date.fromisoformat(filed["due_by"]) == working_day_after(datetime.now(UTC), 1)
    interface = {**use, "sharing_modes": ["interface"]}
    needless = body(resource=DIBAO, fields=["receiving"], use=interface)
    problem(client.post("/agreements", json=needless, headers=officer), 422, "no_agreement_needed")
    file = {**use, "sharing_modes": ["file"]}
    offered = client.post(
        "/agreements", json=body(resource=DIBAO, fields=["receiving"], use=file), headers=officer
    )
    answer = problem(offered, 422, "sharing_mode_not_offered")
    assert answer["errors"][0]["pointer"] == "/use/sharing_modes/0"
    no_extension = client.post(
        f"/agreements/{filed['id']}/extension",
        json={"days": 3, "reason": "需要核对"},
        headers=token(Role.SHARING_OFFICER, "MCA"),
    )
    problem(no_extension, 409, "no_extension")


def test_missing_materials_get_one_notice_that_stops_the_clock_until_supplied(
    client: TestClient, token: Callable[..., Headers]
) -> None:
    consumer, provider = token(Role.SHARING_OFFICER, "EDU"), token(Role.SHARING_OFFICER, "REG")
    lacking = body(use={"scenario": body()["use"]["scenario"]})
    filed = ok(client.post("/agreements", json=lacking, headers=consumer), 201)
    assert filed["missing_materials"] == ["scope", "sharing_modes"]
    url = f"/agreements/{filed['id']}"
    refuse = {"decision": "refuse", "reason": "材料不全"}
    problem(
        client.post(f"{url}/decision", json=refuse, headers=provider),
        409,
        "materials_notice_required",
    )
    partial = {"items": [{"material": "scope", "detail": "请说明使用范围"}]}
    answer = problem(
        client.post(f"{url}/materials-notice", json=partial, headers=provider),
        422,
        "incomplete_notice",
    )
    assert "sharing_modes" in answer["detail"]
    notice = {
        "items": [
            {"material": "scope", "detail": "请说明涉及哪些人员"},
            {"material": "sharing_modes", "detail": "请说明共享方式"},
            {"material": "other", "detail": "请附入学登记工作方案"},
        ]
    }
    problem(client.post(f"{url}/materials-notice", json=notice, headers=consumer), 403, "forbidden")
    noticed = ok(client.post(f"{url}/materials-notice", json=notice, headers=provider))
    assert noticed["due_by"] is None  # the clock is stopped
    assert noticed["overdue"] is False
    assert [i["material"] for i in noticed["materials_notice"]["items"]] == [
        "scope",
        "sharing_modes",
        "other",
    ]
    again = client.post(f"{url}/materials-notice", json=notice, headers=provider)
    problem(again, 409, "materials_already_requested")
    problem(
        client.post(f"{url}/decision", json=refuse, headers=provider), 409, "awaiting_materials"
    )
    extension = {"days": 5, "reason": "需要核对"}
    problem(client.post(f"{url}/extension", json=extension, headers=provider), 409, "no_extension")
    scope = {"population": "named", "description": "本市申请入学儿童的监护人"}
    short = {"use": {"scope": scope, "sharing_modes": ["interface"]}}
    left = problem(
        client.post(f"{url}/materials", json=short, headers=consumer), 422, "invalid_application"
    )
    assert [e["pointer"] for e in left["errors"]] == ["/other"]
    problem(client.post(f"{url}/materials", json=short, headers=provider), 403, "forbidden")
    unchanged = ok(client.get(url, headers=consumer))
    assert (unchanged["due_by"], unchanged["materials_supplied_at"]) == (None, None)
    full = {**short, "other": "入学登记工作方案已随附。"}
    supplied = ok(client.post(f"{url}/materials", json=full, headers=consumer))
    assert supplied["missing_materials"] == []
    assert date.fromisoformat(supplied["due_by"]) == working_day_after(datetime.now(UTC), 10)
    problem(
        client.post(f"{url}/materials", json=full, headers=consumer), 409, "no_materials_requested"
    )
    approved = ok(
        client.post(
            f"{url}/decision",
            json={"decision": "approve", "fields": ["address"]},
            headers=provider,
        )
    )
    assert approved["status"] == "approved"
    assert [e["event"] for e in approved["log"]] == [
        "applied",
        "materials_asked",
        "materials_given",
        "approved",
    ]


def test_one_extension_with_the_authoritys_approval_and_the_requester_sees_it(
    client: TestClient, token: Callable[..., Headers]
) -> None:
    consumer, provider = token(Role.SHARING_OFFICER, "EDU"), token(Role.SHARING_OFFICER, "REG")
    authority = token(Role.DATA_AUTHORITY)
    filed = ok(client.post("/agreements", json=body(), headers=consumer), 201)
    url = f"/agreements/{filed['id']}"
    too_long = {"days": 11, "reason": "需要会商"}
    problem(
        client.post(f"{url}/extension", json=too_long, headers=provider), 422, "malformed_request"
    )
    problem(
        client.post(f"{url}/extension/decision", json={"decision": "approve"}, headers=authority),
        409,
        "extension_not_requested",
    )
    asked = ok(
        client.post(
            f"{url}/extension", json={"days": 5, "reason": "需要会商公安部门"}, headers=provider
        )
    )
    assert asked["due_by"] == filed["due_by"]  # nothing moves before the authority approves
    assert asked["extension"]["status"] == "requested"
    again = client.post(f"{url}/extension", json={"days": 2, "reason": "再延"}, headers=provider)
    problem(again, 409, "extension_already_requested")
    waiting = ok(client.get("/agreements/extension-requests", headers=authority))
    assert [a["id"] for a in waiting["agreements"]] == [filed["id"]]
    problem(client.get("/agreements/extension-requests", headers=provider), 403, "forbidden")
    decision = {"decision": "approve"}
    problem(
        client.post(f"{url}/extension/decision", json=decision, headers=provider), 403, "forbidden"
    )
    problem(
        client.post(
            f"{url}/extension/decision",
            json={"decision": "refuse", "reason": " "},
            headers=authority,
        ),
        422,
        "invalid_decision",
    )
    ok(client.post(f"{url}/extension/decision", json=decision, headers=authority))
    seen = ok(client.get(url, headers=consumer))
    due = date.fromisoformat(filed["due_by"])
    assert seen["extension"]["status"] == "approved"
    assert seen["extension"]["reason"] == "需要会商公安部门"
    assert seen["extension"]["due_before"] == filed["due_by"]
    assert date.fromisoformat(seen["due_by"]) > due + timedelta(days=6)  # 5 working days on
    assert seen["due_by"] == seen["extension"]["due_after"]
    third = client.post(f"{url}/extension", json={"days": 1, "reason": "x"}, headers=provider)
    problem(third, 409, "extension_already_requested")
    assert [e["event"] for e in seen["log"]] == [
        "applied",
        "extension_asked",
        "extended",
    ]


def test_a_refusal_gives_reasons(client: TestClient, token: Callable[..., Headers]) -> None:
    filed = ok(
        client.post("/agreements", json=body(), headers=token(Role.SHARING_OFFICER, "EDU")), 201
    )
    url = f"/agreements/{filed['id']}/decision"
    provider = token(Role.SHARING_OFFICER, "REG")
    problem(
        client.post(url, json={"decision": "refuse"}, headers=provider), 422, "malformed_request"
    )
    problem(
        client.post(url, json={"decision": "refuse", "reason": "  "}, headers=provider),
        422,
        "invalid_decision",
    )
    assert ok(client.get(f"/agreements/{filed['id']}", headers=provider))["status"] == "pending"


def test_an_answer_after_the_clock_ran_out_is_refused_and_nothing_changes(
    client: TestClient, token: Callable[..., Headers], sessions: sessionmaker[Session]
) -> None:
    filed = ok(
        client.post("/agreements", json=body(), headers=token(Role.SHARING_OFFICER, "EDU")), 201
    )
    with unit_of_work(sessions) as session:
        session.execute(
            update(Agreement)
            .where(Agreement.id == filed["id"])
            .values(due_by=datetime.now(UTC).date() - timedelta(days=2))
        )
    provider = token(Role.SHARING_OFFICER, "REG")
    url = f"/agreements/{filed['id']}"
    for path, payload in (
        ("decision", {"decision": "approve", "fields": ["address"]}),
        ("decision", {"decision": "refuse", "reason": "迟到的拒绝"}),
        ("extension", {"days": 3, "reason": "迟到的延期"}),
        ("materials-notice", {"items": [{"material": "other", "detail": "迟到"}]}),
    ):
        problem(client.post(f"{url}/{path}", json=payload, headers=provider), 409, "reply_overdue")
    seen = ok(client.get(url, headers=provider))
    assert (seen["status"], seen["overdue"], seen["extension"], seen["materials_notice"]) == (
        "pending",
        True,
        None,
        None,
    )
    assert [e["event"] for e in seen["log"]] == ["applied"]


def test_a_reply_may_not_add_conditions_the_catalogue_does_not_declare(
    client: TestClient, token: Callable[..., Headers], sessions: sessionmaker[Session]
) -> None:
    filed = ok(
        client.post("/agreements", json=body(), headers=token(Role.SHARING_OFFICER, "EDU")), 201
    )
    url = f"/agreements/{filed['id']}/decision"
    provider = token(Role.SHARING_OFFICER, "REG")
    with unit_of_work(sessions) as session:  # a new version that declares no 共享条件
        latest = session.get(Resource, PROPERTY)
        assert latest is not None
        version = session.get(ResourceVersion, (PROPERTY, latest.latest_version))
        assert version is not None
        descriptor = dict(version.descriptor)
        sharing = dict(descriptor["sharing"])
        sharing.pop("condition", None)
        sharing.pop("use_conditions", None)
        descriptor["sharing"] = sharing
        publish(session, check_descriptor(descriptor), by="reg-admin", now=datetime.now(UTC))
    quota = {"decision": "approve", "fields": ["address"], "daily_quota": 100}
    answer = problem(client.post(url, json=quota, headers=provider), 422, "undeclared_condition")
    assert answer["errors"][0]["pointer"] == "/daily_quota"
    plain = ok(
        client.post(url, json={"decision": "approve", "fields": ["address"]}, headers=provider)
    )
    assert plain["decision"]["daily_quota"] is None


def test_the_delivery_clock_runs_from_approval_until_the_provider_delivers(
    client: TestClient, token: Callable[..., Headers]
) -> None:
    consumer, provider = token(Role.SHARING_OFFICER, "EDU"), token(Role.SHARING_OFFICER, "REG")
    filed = ok(client.post("/agreements", json=body(), headers=consumer), 201)
    url = f"/agreements/{filed['id']}"
    problem(
        client.post(f"{url}/delivery", json={"channel": "interface"}, headers=provider),
        409,
        "not_deliverable",
    )
    approved = ok(
        client.post(
            f"{url}/decision", json={"decision": "approve", "fields": ["address"]}, headers=provider
        )
    )
    assert date.fromisoformat(approved["delivery_due_by"]) == working_day_after(
        datetime.now(UTC), 20
    )
    assert (approved["delivery"], approved["delivery_overdue"]) == (None, False)
    problem(
        client.post(f"{url}/delivery", json={"channel": "file"}, headers=provider),
        409,
        "not_deliverable",
    )  # not a channel the agreement names
    problem(
        client.post(f"{url}/delivery", json={"channel": "interface"}, headers=consumer),
        403,
        "forbidden",
    )
    delivered = ok(client.post(f"{url}/delivery", json={"channel": "interface"}, headers=provider))
    assert delivered["delivery"]["channel"] == "interface"
    assert delivered["delivery"]["on_time"] is True
    problem(
        client.post(f"{url}/delivery", json={"channel": "interface"}, headers=provider),
        409,
        "not_deliverable",
    )
    assert [e["event"] for e in delivered["log"]][-1] == "delivered"


def test_the_clocks_are_configuration_no_higher_than_the_national_bounds(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    with pytest.raises(ValidationError):
        Settings(application_conditional_reply_working_days=11)
    with pytest.raises(ValidationError):
        Settings(delivery_working_days=21)
    heilongjiang = ReplyClocks(conditional=1)
    officer = Principal("edu-officer", Role.SHARING_OFFICER, "EDU", DEV_IDP_ISSUER)
    application = body(valid_until="2027-12-31")
    with unit_of_work(sessions) as session:
        filed = apply_for_agreement(session, officer, application, now=now, clocks=heilongjiang)
        assert filed.due_by == working_day_after(now, 1)
        legacy = {k: v for k, v in application.items() if k != "use"}
        admin = Principal("edu-admin", Role.DEPARTMENT_ADMIN, "EDU", DEV_IDP_ISSUER)
        older = apply_for_agreement(session, admin, legacy, now=now, clocks=heilongjiang)
        assert older.due_by == working_day_after(now, 1)  # the older form reads it too
        assert older.use is None


def test_the_cli_lists_every_running_clock(
    client: TestClient,
    token: Callable[..., Headers],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, provider = token(Role.SHARING_OFFICER, "EDU"), token(Role.SHARING_OFFICER, "REG")
    reply = ok(client.post("/agreements", json=body(), headers=consumer), 201)
    waiting = ok(client.post("/agreements", json=body(use={}), headers=consumer), 201)
    items = [{"material": m, "detail": "请补充"} for m in ("scenario", "scope", "sharing_modes")]
    ok(
        client.post(
            f"/agreements/{waiting['id']}/materials-notice", json={"items": items}, headers=provider
        )
    )
    approved = ok(client.post("/agreements", json=body(), headers=consumer), 201)
    ok(
        client.post(
            f"/agreements/{approved['id']}/decision",
            json={"decision": "approve", "fields": ["address"]},
            headers=provider,
        )
    )
    monkeypatch.setenv("TONGBAN_DATABASE_URL", database_url)
    result = CliRunner().invoke(agreements_app, ["clocks", "--json"])
    assert result.exit_code == 0, result.output
    clocks = {c["id"]: (c["clock"], c["overdue"]) for c in json.loads(result.stdout)}
    assert clocks == {
        reply["id"]: ("reply", False),
        waiting["id"]: ("materials", False),
        approved["id"]: ("delivery", False),
    }
    table = CliRunner().invoke(agreements_app, ["clocks"])
    assert table.exit_code == 0
    assert "delivery" in table.stdout
