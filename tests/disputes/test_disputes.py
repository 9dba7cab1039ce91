"""Disputes between departments (《政务数据共享条例》 art. 28) end to end, on SQLite and
PostgreSQL: a department opens a dispute over a matter both departments are party to, the two
negotiate (positions, a settlement proposed by one and confirmed by the other), either takes it
to the data authority once negotiation was tried or its clock ran out, the authority decides
with reasons or refers it to the common superior and then the government at that level and
records their outcome with the document's digest. Each step is an audit entry; every misuse is
a precise problem+json and nothing is stored."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from catalogue.models import Department
from exchange.agreements.models import Agreement
from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from exchange.disputes.models import Dispute, DisputeLevel, DisputeStep, MatterKind
from exchange.disputes.service import DisputeActor
from exchange.hub import Hub
from exchange.security.identity import Role

REFERRAL = {
    "name": "关于提请协调数据共享争议的函.pdf",
    "sha256": hashlib.sha256(b"ref").hexdigest(),
}
RULING = {"name": "市政府决定.pdf", "sha256": hashlib.sha256(b"ruling").hexdigest()}


class Staff:
    def __init__(self, client: TestClient, sub: str, role: Role, department: str | None):
        hub: Hub = client.app.state.hub  # type: ignore[attr-defined]
        token = hub.identity.issue_dev_token(sub, role, department)
        self.client, self.headers = client, {"authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, headers=self.headers, params=params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(path, json=body, headers=self.headers)


@pytest.fixture
def hub(client: TestClient, demo_world: Path) -> Hub:
    found: Hub = client.app.state.hub  # type: ignore[attr-defined]
    return found


@pytest.fixture
def agreement(hub: Hub) -> Agreement:
    """A demo agreement between two different departments."""
    with unit_of_work(hub.sessions) as session:
        row = session.scalars(
            select(Agreement)
            .where(Agreement.consumer_department != Agreement.provider_department)
            .order_by(Agreement.id)
        ).first()
        assert row is not None
        session.expunge(row)
    return row


@pytest.fixture
def outsider(hub: Hub, agreement: Agreement) -> str:
    """A department party to nothing of that agreement."""
    parties = {agreement.consumer_department, agreement.provider_department}
    with unit_of_work(hub.sessions) as session:
        codes = session.scalars(select(Department.code).order_by(Department.code)).all()
    return next(code for code in codes if code not in parties)


def admin(client: TestClient, department: str) -> Staff:
    return Staff(client, f"{department.lower()}-admin", Role.DEPARTMENT_ADMIN, department)


def authority(client: TestClient) -> Staff:
    return Staff(client, "dsj-001", Role.DATA_AUTHORITY, None)


def opening(agreement: Agreement, **more: Any) -> dict[str, Any]:
    return {
        "respondent": agreement.provider_department,
        "matter": {"kind": "agreement", "id": agreement.id},
        "statement": "提供方未按协议约定的字段范围提供数据",
        **more,
    }


def dispute_entries(hub: Hub) -> list[dict[str, Any]]:
    with unit_of_work(hub.sessions) as session:
        rows = session.scalars(
            select(AuditRecord.entry)
            .where(AuditRecord.kind == "dispute")
            .order_by(AuditRecord.index)
        )
        return [json.loads(row) for row in rows]


def stored(hub: Hub) -> tuple[int, int, int]:
    with unit_of_work(hub.sessions) as session:
        disputes = session.scalar(select(func.count()).select_from(Dispute)) or 0
        steps = session.scalar(select(func.count()).select_from(DisputeStep)) or 0
    return disputes, steps, len(dispute_entries(hub))


def refused(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert problem["code"] == code, problem
    return problem


def test_a_dispute_climbs_every_level_with_its_clock_and_each_step_audited(
    client: TestClient, hub: Hub, agreement: Agreement
) -> None:
    claimant = admin(client, agreement.consumer_department)
    respondent = admin(client, agreement.provider_department)
    chief = authority(client)

    opened = claimant.post("/department/disputes", opening(agreement))
    assert opened.status_code == 201, opened.text
    view = opened.json()
    path = f"/department/disputes/{view['id']}"
    assert view["level"] == "negotiation"
    assert view["status"] == "open"
    assert view["clock"]["running"]
    assert not view["clock"]["overdue"]
    assert "escalate" not in view["may"]

    before = stored(hub)
    refused(
        claimant.post(f"{path}/escalate", {"to": "authority", "reasons": "对方不回应"}),
        409,
        "dispute_negotiation_not_tried",
    )
    refused(
        claimant.post(f"{path}/escalate", {"to": "superior", "reasons": "越级"}),
        409,
        "dispute_level_skipped",
    )
    assert stored(hub) == before

    said = respondent.post(f"{path}/positions", {"text": "字段范围符合协议第三条"})
    assert said.status_code == 200, said.text
    assert "escalate" in said.json()["may"]
    up = respondent.post(f"{path}/escalate", {"to": "authority", "reasons": "协商未果"})
    assert up.status_code == 200, up.text
    assert up.json()["level"] == "authority"

    chief_path = f"/authority/disputes/{view['id']}"
    before = stored(hub)
    refused(
        chief.post(f"{chief_path}/decision", {"decision": "按协议提供"}),
        422,
        "dispute_reasons_required",
    )
    refused(
        chief.post(f"{chief_path}/decision", {"decision": "按协议提供", "reasons": "  "}),
        422,
        "dispute_reasons_required",
    )
    refused(
        chief.post(
            f"{chief_path}/escalate", {"to": "government", "reasons": "越级", "document": REFERRAL}
        ),
        409,
        "dispute_level_skipped",
    )
    refused(
        chief.post(f"{chief_path}/outcome", {"outcome": "x", "document": RULING}),
        409,
        "dispute_wrong_level",
    )
    refused(
        claimant.post(f"{chief_path}/decision", {"decision": "x", "reasons": "y"}), 403, "forbidden"
    )
    refused(claimant.post(f"{path}/settlement", {"terms": "x"}), 409, "dispute_wrong_level")
    assert stored(hub) == before

    referred = chief.post(
        f"{chief_path}/escalate", {"to": "superior", "reasons": "协调不成", "document": REFERRAL}
    )
    assert referred.status_code == 200, referred.text
    assert referred.json()["level"] == "superior"
    to_government = chief.post(
        f"{chief_path}/escalate",
        {"to": "government", "reasons": "无共同上级", "document": REFERRAL},
    )
    assert to_government.status_code == 200, to_government.text
    done = chief.post(f"{chief_path}/outcome", {"outcome": "按协议第三条提供", "document": RULING})
    assert done.status_code == 200, done.text
    final = done.json()
    assert final["status"] == "resolved"
    assert final["outcome_digest"] == RULING["sha256"]
    assert not final["clock"]["running"]
    assert final["may"] == []
    refused(claimant.post(f"{path}/positions", {"text": "补充"}), 409, "dispute_closed")

    shown = claimant.get(path).json()
    assert [s["action"] for s in shown["steps"]] == [
        "opened",
        "position",
        "escalated",
        "escalated",
        "escalated",
        "resolved",
    ]
    entries = dispute_entries(hub)
    assert [e["object"]["event"] for e in entries] == [s["action"] for s in shown["steps"]]
    assert [e["object"]["level_after"] for e in entries] == [
        "negotiation",
        "negotiation",
        "authority",
        "superior",
        "government",
        "government",
    ]
    text = json.dumps(entries, ensure_ascii=False)
    assert "字段范围" not in text
    assert "协商未果" not in text
    assert (
        entries[0]["object"]["text_digest"]
        == hashlib.sha256("提供方未按协议约定的字段范围提供数据".encode()).hexdigest()
    )
    assert entries[-1]["object"]["document_digest"] == RULING["sha256"]


def test_a_settlement_is_proposed_by_one_department_and_confirmed_by_the_other(
    client: TestClient, hub: Hub, agreement: Agreement
) -> None:
    claimant = admin(client, agreement.consumer_department)
    respondent = admin(client, agreement.provider_department)
    view = claimant.post("/department/disputes", opening(agreement)).json()
    path = f"/department/disputes/{view['id']}"
    refused(respondent.post(f"{path}/settlement/confirm"), 409, "dispute_no_settlement")
    proposed = respondent.post(f"{path}/settlement", {"terms": "补充提供缺失字段，五个工作日内"})
    assert proposed.status_code == 200, proposed.text
    refused(respondent.post(f"{path}/settlement/confirm"), 409, "dispute_own_settlement")
    assert "confirm" in claimant.get(path).json()["may"]
    confirmed = claimant.post(f"{path}/settlement/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "settled"
    assert confirmed.json()["outcome"] == "补充提供缺失字段，五个工作日内"
    assert [e["object"]["event"] for e in dispute_entries(hub)] == [
        "opened",
        "proposed",
        "settled",
    ]
    listed = authority(client).get("/authority/disputes").json()["disputes"]
    assert [d["status"] for d in listed] == ["settled"]


def test_bad_openings_are_refused_precisely_and_store_nothing(
    client: TestClient, hub: Hub, agreement: Agreement, outsider: str
) -> None:
    claimant = admin(client, agreement.consumer_department)
    cases = [
        (
            claimant,
            opening(agreement, respondent=agreement.consumer_department),
            422,
            "dispute_with_self",
        ),
        (
            claimant,
            opening(agreement, matter={"kind": "agreement", "id": "agr-nope"}),
            422,
            "dispute_matter_not_found",
        ),
        (
            claimant,
            opening(agreement, matter={"kind": "correction", "id": "corr-nope"}),
            422,
            "dispute_matter_not_found",
        ),
        (claimant, opening(agreement, respondent=outsider), 422, "dispute_matter_unrelated"),
        (admin(client, outsider), opening(agreement), 422, "dispute_matter_unrelated"),
        (
            claimant,
            opening(agreement, matter={"kind": "treaty", "id": "x"}),
            422,
            "malformed_request",
        ),
        (claimant, opening(agreement, statement=" \n "), 422, "dispute_text_empty"),
        (authority(client), opening(agreement), 403, "forbidden"),
        (
            Staff(client, "11010519491231002X", Role.CITIZEN, None),
            opening(agreement),
            403,
            "forbidden",
        ),
    ]
    for who, body, status, code in cases:
        problem = refused(who.post("/department/disputes", body), status, code)
        assert "字段范围" not in problem["detail"]
    assert stored(hub) == (0, 0, 0)


def test_an_open_dispute_over_a_matter_is_not_opened_twice_and_is_hidden_from_others(
    client: TestClient, hub: Hub, agreement: Agreement, outsider: str
) -> None:
    claimant = admin(client, agreement.consumer_department)
    respondent = admin(client, agreement.provider_department)
    view = claimant.post("/department/disputes", opening(agreement)).json()
    refused(
        respondent.post(
            "/department/disputes",
            opening(agreement, respondent=agreement.consumer_department),
        ),
        409,
        "dispute_already_open",
    )
    stranger = admin(client, outsider)
    refused(stranger.get(f"/department/disputes/{view['id']}"), 404, "dispute_not_found")
    refused(
        stranger.post(f"/department/disputes/{view['id']}/positions", {"text": "x"}),
        404,
        "dispute_not_found",
    )
    assert stranger.get("/department/disputes").json()["disputes"] == []
    assert [d["id"] for d in respondent.get("/department/disputes").json()["disputes"]] == [
        view["id"]
    ]
    assert stored(hub)[0] == 1


def test_each_level_runs_on_working_days_and_negotiation_may_end_when_its_clock_runs_out(
    hub: Hub, agreement: Agreement
) -> None:
    claimant = DisputeActor("a", "department_admin", agreement.consumer_department)
    desk = hub.disputes
    # 30 September 2026, China time: 国庆节 1-7 October, 10 October (Saturday) worked
    opened_at = datetime(2026, 9, 30, 2, tzinfo=UTC)
    row = desk.open(
        claimant,
        agreement.provider_department,
        (MatterKind.AGREEMENT, agreement.id),
        "争议",
        opened_at,
    )
    assert row.due_on == date(2026, 10, 20)
    late = datetime(2026, 10, 21, 2, tzinfo=UTC)  # the respondent never answered
    row = desk.escalate(claimant, row.id, DisputeLevel.AUTHORITY, "逾期未协商", late)
    assert row.level is DisputeLevel.AUTHORITY
    assert row.due_on == date(2026, 11, 4)  # 10 working days from 21 October
