"""Use, disposal and suspension (《政务数据共享条例》 art. 25, 27, 29), on SQLite and PostgreSQL:
the consumer files usage records that are never changed (an amendment is a new record naming
the old one) and kept at least 3 years; disposal is refused while the agreement is in force; the
provider suspends an agreement for misuse and a real query under it is denied until it is
reinstated; past the remedy deadline it is terminated. Every step is an audit entry; every
misuse a precise problem+json with nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from exchange.agreements.models import Agreement
from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.settings import Settings
from exchange.stewardship.models import AgreementSuspension, UsageRecord
from exchange.stewardship.service import Steward
from schemas import validator
from tests.exchange.world import Hub, hub_over, showcase_people

DEMO = "AG-DEMO-EDU-REG-0001"  # edu-enrolment (EDU) consumes REG-BDC-0001 from REG
CERTIFICATE = "property.certificate_no"
USAGE = {
    "scenario": "义务教育入学登记核验房产",
    "process": "入学登记系统按申请逐件查询",
    "effect": "家长免交房产证复印件",
    "storage": "核验结果存于入学登记库，加密",
    "disposal": "学年结束后删除核验明细",
}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=200, seed=29)


@pytest.fixture(scope="module")
def people(city: LegacyWorld) -> dict[str, str]:
    return showcase_people(city)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    yield from hub_over(database_url, sessions, live_demo_world, city.adapters_file)


def staff(hub: Hub, department: str | None, role: str = "department_admin") -> dict[str, str]:
    claims = {"sub": f"{(department or 'dsj').lower()}-1", "role": role, "department": department}
    token = hub.client.post("/dev/idp/token", json=claims).json()["id_token"]
    return {"authorization": f"Bearer {token}"}


def post(hub: Hub, path: str, body: dict[str, Any], who: dict[str, str]) -> Any:
    return hub.client.post(path, json=body, headers=who)


def refused(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code, answer.text


def certificate(hub: Hub, subject: str) -> dict[str, Any]:
    body = {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": "school-enrolment",
        "attributes": [CERTIFICATE],
    }
    answer: dict[str, Any] = hub.query(body).json()
    return answer


def entries(hub: Hub) -> list[dict[str, Any]]:
    with unit_of_work(hub.sessions) as session:
        rows = session.scalars(
            select(AuditRecord.entry)
            .where(AuditRecord.kind == "stewardship")
            .order_by(AuditRecord.index)
        )
        found = [json.loads(row) for row in rows]
    for entry in found:  # shaped as audit-entry.schema.json says
        assert list(validator("audit-entry").iter_errors(entry)) == []
    return found


def test_a_suspended_agreement_releases_nothing_until_it_is_reinstated(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["has_property"]
    assert CERTIFICATE in certificate(hub, subject)["attributes"]
    remedy_by = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    path = f"/department/agreements/{DEMO}/suspension"

    refused(
        post(hub, path, {"reasons": "超范围使用", "remedy_by": remedy_by}, staff(hub, "EDU")),
        404,
        "stewardship_agreement_not_found",
    )  # the consumer
    suspended = post(
        hub,
        path,
        {"reasons": "超范围使用：用于非入学事项", "remedy_by": remedy_by},
        staff(hub, "REG"),
    )
    assert suspended.status_code == 201, suspended.text
    refused(
        post(hub, path, {"reasons": "再次", "remedy_by": remedy_by}, staff(hub, "REG")),
        409,
        "agreement_not_suspendable",
    )

    answer = certificate(hub, subject)
    assert answer["attributes"] == {}
    assert answer["denied"] == {CERTIFICATE: "agreement_unverifiable"}
    assert answer["unverifiable"][DEMO] == f"the agreement {DEMO} is suspended (art. 29)"

    refused(
        post(hub, f"{path}/terminate", {"note": "逾期未整改"}, staff(hub, "REG")),
        409,
        "remedy_deadline_not_passed",
    )
    back = post(hub, f"{path}/reinstate", {"note": "已整改，停止非入学使用"}, staff(hub, "REG"))
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "reinstated"
    assert CERTIFICATE in certificate(hub, subject)["attributes"]
    assert [e["object"]["event"] for e in entries(hub)] == ["suspended", "reinstated"]
    assert "超范围" not in json.dumps(entries(hub), ensure_ascii=False)


def test_an_agreement_whose_remedy_deadline_passed_is_terminated_for_good(
    hub: Hub, people: dict[str, str]
) -> None:
    desk = hub.client.app.state.hub.stewardship  # type: ignore[attr-defined]
    authority = Steward("dsj-1", "data_authority", None)
    now = datetime.now(UTC)
    desk.suspend(authority, DEMO, "超范围使用", (now + timedelta(days=3)).date(), now)
    later = now + timedelta(days=5)
    row = desk.terminate(authority, DEMO, "逾期未整改", later)
    assert row.status.value == "terminated"
    answer = certificate(hub, people["has_property"])
    assert answer["denied"] == {CERTIFICATE: "agreement_unverifiable"}
    assert answer["unverifiable"][DEMO] == f"the agreement {DEMO} is terminated (art. 29)"
    refused(
        post(
            hub,
            f"/department/agreements/{DEMO}/suspension/reinstate",
            {"note": "x"},
            staff(hub, "REG"),
        ),
        409,
        "agreement_not_suspended",
    )


def test_usage_records_are_never_changed_and_kept_three_years(hub: Hub) -> None:
    path = f"/department/agreements/{DEMO}/usage-records"
    filed = post(hub, path, USAGE, staff(hub, "EDU"))
    assert filed.status_code == 201, filed.text
    first = filed.json()
    filed_on = datetime.fromisoformat(first["filed_at"].replace("Z", "+00:00"))
    assert date.fromisoformat(first["retain_until"]).year == filed_on.year + 3
    amended = post(
        hub,
        path,
        {**USAGE, "effect": "家长免交复印件，办理时间缩短", "amends": first["id"]},
        staff(hub, "EDU"),
    )
    assert amended.status_code == 201, amended.text

    refused(post(hub, path, USAGE, staff(hub, "REG")), 404, "stewardship_agreement_not_found")
    refused(
        post(hub, path, {**USAGE, "effect": "  "}, staff(hub, "EDU")), 422, "stewardship_text_empty"
    )
    refused(
        post(
            hub,
            path,
            {**USAGE, "amends": "use-00000000-0000-0000-0000-000000000000"},
            staff(hub, "EDU"),
        ),
        422,
        "usage_record_not_found",
    )
    for verb in ("put", "patch", "delete"):
        changed = hub.client.request(
            verb, f"{path}/{first['id']}", json=USAGE, headers=staff(hub, "EDU")
        )
        assert changed.status_code in (404, 405), changed.text

    for who in (staff(hub, "REG"), staff(hub, "EDU")):
        seen = hub.client.get(path, headers=who).json()
        assert [r["amends"] for r in seen["usage_records"]] == [None, first["id"]]
    by_authority = hub.client.get(
        f"/authority/agreements/{DEMO}/usage-records", headers=staff(hub, None, "data_authority")
    )
    assert len(by_authority.json()["usage_records"]) == 2
    refused(hub.client.get(path, headers=staff(hub, "MCA")), 404, "stewardship_agreement_not_found")
    with unit_of_work(hub.sessions) as session:
        assert session.scalar(select(func.count()).select_from(UsageRecord)) == 2
    with pytest.raises(ValidationError):
        Settings(usage_record_retention_years=2)
    assert [e["object"]["event"] for e in entries(hub)] == ["usage_recorded", "usage_recorded"]


def test_disposal_is_refused_while_the_agreement_is_in_force(hub: Hub) -> None:
    path = f"/department/agreements/{DEMO}/disposal"
    body = {
        "what": "入学登记核验明细",
        "how": "数据库删除并覆写",
        "disposed_on": "2026-12-01",
        "who": "教育局信息中心 王工",
    }
    refused(post(hub, path, body, staff(hub, "EDU")), 409, "disposal_agreement_in_force")
    assert entries(hub) == []
    with unit_of_work(hub.sessions, write=True) as session:  # the term has ended
        session.execute(
            update(Agreement)
            .where(Agreement.id == DEMO)
            .values(valid_until=datetime.now(UTC) - timedelta(days=1))
        )
    attested = post(hub, path, body, staff(hub, "EDU"))
    assert attested.status_code == 201, attested.text
    assert [e["object"]["event"] for e in entries(hub)] == ["disposed"]
    with unit_of_work(hub.sessions) as session:
        assert session.scalar(select(func.count()).select_from(AgreementSuspension)) == 0


def test_access_unused_for_the_configured_period_lapses_once(
    hub: Hub, people: dict[str, str], database_url: str
) -> None:
    from exchange.jobs.spec import JobContext
    from exchange.stewardship.jobs import lapse_unused

    assert CERTIFICATE in certificate(hub, people["has_property"])["attributes"]  # used today
    settings = Settings(database_url=database_url, mode="dev", agreement_lapse_days=30)
    now = datetime.now(UTC)
    outcome = lapse_unused(JobContext(settings, hub.sessions, now))
    assert outcome.rows >= 1
    with unit_of_work(hub.sessions) as session:
        lapsed = set(session.scalars(select(AgreementSuspension.agreement_id)))
    assert DEMO not in lapsed  # used within the period
    assert "AG-DEMO-MCA-REG-0001" in lapsed  # never used
    assert {e["object"]["event"] for e in entries(hub)} == {"lapsed"}
    assert lapse_unused(JobContext(settings, hub.sessions, now)).rows == 0  # once
    assert CERTIFICATE in certificate(hub, people["has_property"])["attributes"]
    off = Settings(database_url=database_url, mode="dev")
    assert lapse_unused(JobContext(off, hub.sessions, now)).rows == 0


def test_a_provider_announces_a_service_change_every_consumer_sees(hub: Hub) -> None:
    path = "/department/resources/REG-BDC-0001/service-changes"
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    body = {
        "change": "change",
        "fields": ["area"],
        "effective_on": tomorrow,
        "reason": "面积字段改为按套内面积计",
    }
    refused(
        post(hub, path, {**body, "effective_on": "2026-01-01"}, staff(hub, "REG")),
        422,
        "service_change_invalid",
    )
    refused(post(hub, path, body, staff(hub, "EDU")), 404, "stewardship_agreement_not_found")
    refused(
        post(hub, path, {**body, "reason": " "}, staff(hub, "REG")), 422, "stewardship_text_empty"
    )
    assert entries(hub) == []
    announced = post(hub, path, body, staff(hub, "REG"))
    assert announced.status_code == 201, announced.text
    assert DEMO in announced.json()["agreements"]
    seen = hub.client.get("/department/service-changes", headers=staff(hub, "EDU")).json()
    assert [c["reason"] for c in seen["service_changes"]] == ["面积字段改为按套内面积计"]
    assert hub.client.get("/department/service-changes", headers=staff(hub, "HRSS")).json() == {
        "service_changes": []
    }
    logged = entries(hub)
    assert {e["object"]["agreement"] for e in logged} == set(announced.json()["agreements"])
    assert {e["object"]["event"] for e in logged} == {"service_change"}
