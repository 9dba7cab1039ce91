"""Sharing agreements (有条件共享): apply, decide, revoke and read over HTTP with dev-IdP tokens;
the grants the exchange sees; overdue answers and expired validity; use counting under
concurrency; agreement documents loaded from YAML, by function and by the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from catalogue.models import System
from catalogue.publishing import deprecate_resource
from exchange.agreements import active_grants, count_use, load_agreement_documents
from exchange.agreements.documents import demo_agreement_paths
from exchange.agreements.errors import AgreementChanged, NoAgreementNeeded
from exchange.agreements.models import Agreement, AgreementStatus
from exchange.agreements.reading import agreement_views, list_agreements
from exchange.agreements.service import (
    Approval,
    apply_for_agreement,
    decide_application,
    due_date,
)
from exchange.agreements.workdays import (
    CHINA_TZ,
    WorkingCalendar,
    add_working_days,
    official_calendar,
)
from exchange.cli.agreements import agreements_app
from exchange.db import unit_of_work
from exchange.demo.build import DEMO_SYSTEMS
from exchange.security.identity import DEV_IDP_ISSUER, Principal, Role
from exchange.security.keys import HubKeys
from exchange.settings import Settings
from policies.model import Grant, Release, RowCondition
from schemas import TongbanError
from tests import factories
from tests.exchange.conftest import assert_documented

PROBLEM = "application/problem+json"
EDU_ADMIN = Principal("edu-officer", Role.DEPARTMENT_ADMIN, "EDU", DEV_IDP_ISSUER)
REG_ADMIN = Principal("reg-officer", Role.DEPARTMENT_ADMIN, "REG", DEV_IDP_ISSUER)
AUDITOR = Principal("auditor-1", Role.AUDITOR, None, DEV_IDP_ISSUER)
PROPERTY_FIELDS = ["certificate_no", "address", "owners", "area"]


@pytest.fixture
def systems(sessions: sessionmaker[Session], now: datetime, demo_catalogue: None) -> None:
    """The demo catalogue and its two case systems, plus a PSB system."""
    specs = [*DEMO_SYSTEMS, {"id": "psb-portal", "department": "PSB", "purposes": ["id-check"]}]
    with unit_of_work(sessions) as session:
        for spec in specs:
            factories.system(
                session, spec["id"], spec["department"], now=now, purposes=spec["purposes"]
            )


pytestmark = pytest.mark.usefixtures("systems")


def dev_keys() -> HubKeys:
    """The hub keys of the tests' dev installation (the secret of ``var/secret.key``), which
    sign agreement terms as the test hubs' own keys do."""
    return HubKeys(Settings(mode="dev", adapters_file=None))


def future(days: int = 365) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def application(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "system": "edu-enrolment",
        "resource": "REG-BDC-0001",
        "fields": list(PROPERTY_FIELDS),
        "purpose": "school-enrolment",
        "legal_basis": "《中华人民共和国义务教育法》第十二条",
        "justification": "入学登记核验适龄儿童家庭住房情况，免交房产证复印件。",
        "valid_until": future(),
    }
    body.update(overrides)
    return body


class Staff:
    """Bearer headers for staff of each role, from the dev IdP."""

    def __init__(self, issue: Callable[..., str]) -> None:
        self.issue = issue

    def admin(self, department: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issue(Role.DEPARTMENT_ADMIN, department)}"}

    def role(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issue(role, None)}"}


@pytest.fixture
def staff(client: TestClient) -> Staff:
    """Staff tokens with one officer per department (nobody decides their own application)."""
    identity = client.app.state.hub.identity  # type: ignore[attr-defined]

    def issue(role: Role = Role.DEPARTMENT_ADMIN, department: str | None = "PSB") -> str:
        sub = f"{(department or role.value).lower()}-officer-001"
        token: str = identity.issue_dev_token(sub, role, department)
        return token

    return Staff(issue)


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def apply(client: TestClient, staff: Staff, **overrides: Any) -> dict[str, Any]:
    response = client.post("/agreements", json=application(**overrides), headers=staff.admin("EDU"))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def approve(client: TestClient, staff: Staff, agreement_id: str, **decision: Any) -> Any:
    body = {"decision": "approve", "fields": PROPERTY_FIELDS, **decision}
    return client.post(
        f"/agreements/{agreement_id}/decision", json=body, headers=staff.admin("REG")
    )


def test_the_whole_flow_over_http(
    client: TestClient, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    applied = apply(client, staff)
    agreement_id = applied["id"]
    assert agreement_id.startswith("AG-")
    assert (applied["status"], applied["overdue"], applied["decision"]) == ("pending", False, None)
    assert applied["consumer"] == {"system": "edu-enrolment", "department": "EDU"}
    assert applied["provider"] == "REG"
    assert date.fromisoformat(applied["due_by"]) > datetime.now(UTC).date() + timedelta(days=11)
    for side in ("EDU", "REG"):
        seen = client.get(f"/agreements/{agreement_id}", headers=staff.admin(side)).json()
        assert seen["status"] == "pending"

    response = approve(
        client,
        staff,
        agreement_id,
        fields=["certificate_no", "owners", "area"],
        overrides={"certificate_no": "hash"},
        row_condition={"field": "division", "prefix": "330106"},
        daily_quota=500,
    )
    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["status"] == "approved"
    assert decided["decision"]["fields"] == {"certificate_no": "hash", "owners": None, "area": None}
    assert [e["action"] for e in decided["history"]] == ["applied", "approved"]
    assert [e["department"] for e in decided["history"]] == ["EDU", "REG"]
    for side in ("EDU", "REG"):
        listed = client.get("/agreements", headers=staff.admin(side)).json()
        assert [(a["id"], a["status"]) for a in listed["agreements"]] == [
            (agreement_id, "approved")
        ]

    with unit_of_work(sessions) as session:
        grants = active_grants(session, system="edu-enrolment", now=datetime.now(UTC))
    valid_from = datetime.fromisoformat(decided["decision"]["valid_from"])
    valid_until = datetime.fromisoformat(decided["decision"]["valid_until"])
    assert valid_until == datetime.combine(
        date.fromisoformat(future()) + timedelta(days=1), datetime.min.time(), CHINA_TZ
    )
    assert grants == [
        Grant(
            agreement_id=agreement_id,
            system="edu-enrolment",
            consumer_department="EDU",
            resource="REG-BDC-0001",
            purposes=frozenset({"school-enrolment"}),
            legal_basis="《中华人民共和国义务教育法》第十二条",
            fields={"certificate_no": Release.HASH, "owners": None, "area": None},
            valid_from=valid_from,
            valid_until=valid_until,
            row_condition=RowCondition("division", "330106"),
            daily_quota=500,
            used_today=0,
            requires_consent=False,
        )
    ]


def test_an_agreement_names_the_consumer_and_purposes_as_the_registry_does(
    client: TestClient, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    """What the provider's admin reads: the applicant's system and department and each purpose
    by their registered names (the purpose's is its service item's), the codes beside them."""
    system_name = "义务教育入学登记系统 (school enrolment case system)"
    with unit_of_work(sessions, write=True) as session:
        session.execute(update(System).where(System.id == "edu-enrolment").values(name=system_name))
    applied = apply(client, staff)
    read = client.get(f"/agreements/{applied['id']}", headers=staff.admin("REG")).json()
    listed = client.get("/agreements", headers=staff.admin("REG")).json()["agreements"]
    for view in (applied, read, listed[0]):
        assert view["consumer"] == {"system": "edu-enrolment", "department": "EDU"}
        assert view["purposes"] == ["school-enrolment"]
        assert view["names"] == {
            "system": system_name,
            "consumer_department": {
                "name": "演示市教育局",
                "name_en": "Demo City Education Bureau",
            },
            "purposes": [
                {
                    "code": "school-enrolment",
                    "name": "义务教育入学登记",
                    "name_en": "Compulsory education school enrolment registration",
                }
            ],
        }


def test_only_conditional_fields_can_be_applied_for(client: TestClient, staff: Staff) -> None:
    headers = staff.admin("EDU")
    body = assert_problem(
        client.post("/agreements", json=application(fields=["area", "division"]), headers=headers),
        422,
        "no_agreement_needed",
    )
    assert "division" in body["detail"]
    assert body["errors"] == [{"pointer": "/fields/1", "detail": body["errors"][0]["detail"]}]
    psb = application(
        resource="PSB-HJ-0001", fields=["ethnicity", "criminal_record"], system="edu-enrolment"
    )
    body = assert_problem(client.post("/agreements", json=psb, headers=headers), 422, "not_shared")
    assert "criminal_record" in body["detail"]
    unknown = application(fields=["area", "no_such_field"])
    body = assert_problem(
        client.post("/agreements", json=unknown, headers=headers), 422, "unknown_field"
    )
    assert body["errors"][0]["pointer"] == "/fields/1"
    assert client.get("/agreements", headers=headers).json()["total"] == 0


def test_applications_are_checked_against_the_registry(
    client: TestClient, staff: Staff, sessions: sessionmaker[Session], now: datetime
) -> None:
    headers = staff.admin("EDU")
    cases = [
        (application(purpose="minimum-living-allowance"), 422, "agreement_purpose_not_registered"),
        (application(system="no-such-system"), 422, "invalid_application"),
        (application(resource="NO-SUCH-0001"), 422, "invalid_application"),
        (application(justification=""), 422, "invalid_application"),
        (application(valid_until="2020-01-01"), 422, "invalid_application"),
        (application(valid_until="2027-02-30"), 422, "invalid_application"),
        (application(system="mca-dibao", purpose="minimum-living-allowance"), 403, "forbidden"),
    ]
    for body, status, code in cases:
        assert_problem(client.post("/agreements", json=body, headers=headers), status, code)
    missing = {k: v for k, v in application().items() if k != "legal_basis"}
    problem = assert_problem(
        client.post("/agreements", json=missing, headers=headers), 422, "invalid_application"
    )
    assert problem["errors"] == [{"pointer": "/legal_basis", "detail": "'legal_basis' is required"}]
    for role in (Role.AUDITOR, Role.OPERATOR, Role.CITIZEN):
        response = client.post("/agreements", json=application(), headers=staff.role(role))
        assert_problem(response, 403, "forbidden")
    with unit_of_work(sessions) as session:
        deprecate_resource(session, "REG-BDC-0001", reason="replaced", now=now)
    body = assert_problem(
        client.post("/agreements", json=application(), headers=headers), 422, "invalid_application"
    )
    assert "deprecated" in body["detail"]


def test_a_refusal_needs_a_reason_and_ends_the_application(
    client: TestClient, staff: Staff
) -> None:
    agreement_id = apply(client, staff)["id"]
    url = f"/agreements/{agreement_id}/decision"
    headers = staff.admin("REG")
    refuse = {"decision": "refuse"}
    assert_problem(client.post(url, json=refuse, headers=headers), 422, "malformed_request")
    blank = {**refuse, "reason": "   "}
    assert_problem(client.post(url, json=blank, headers=headers), 422, "invalid_decision")
    refused = client.post(url, json={**refuse, "reason": "用途与所申请信息项不符"}, headers=headers)
    assert refused.status_code == 200, refused.text
    seen = client.get(f"/agreements/{agreement_id}", headers=staff.admin("EDU")).json()
    assert seen["status"] == "refused"
    assert seen["decision"] == {
        "decision": "refuse",
        "at": seen["decision"]["at"],
        "by": "reg-officer-001",
        "reason": "用途与所申请信息项不符",
    }
    assert_problem(approve(client, staff, agreement_id), 409, "already_decided")
    again = client.post(url, json={**refuse, "reason": "again"}, headers=headers)
    assert_problem(again, 409, "already_decided")


def test_who_may_decide_and_who_may_see(client: TestClient, staff: Staff) -> None:
    agreement_id = apply(client, staff)["id"]
    url = f"/agreements/{agreement_id}"
    assert_problem(approve_as(client, staff.admin("EDU"), agreement_id), 403, "forbidden")
    assert_problem(approve_as(client, staff.role(Role.AUDITOR), agreement_id), 403, "forbidden")
    assert_problem(approve_as(client, staff.role(Role.OPERATOR), agreement_id), 403, "forbidden")
    for missing in (url, "/agreements/AG-NOSUCHTHING"):
        assert_problem(client.get(missing, headers=staff.admin("PSB")), 404, "agreement_not_found")
    assert_problem(approve_as(client, staff.admin("PSB"), agreement_id), 404, "agreement_not_found")
    revoke = client.post(f"{url}/revoke", json={"reason": "x"}, headers=staff.admin("PSB"))
    assert_problem(revoke, 404, "agreement_not_found")
    assert client.get("/agreements", headers=staff.admin("PSB")).json()["agreements"] == []
    assert client.get(url, headers=staff.role(Role.AUDITOR)).json()["status"] == "pending"
    assert client.get("/agreements", headers=staff.role(Role.AUDITOR)).json()["total"] == 1
    assert_problem(client.get(url, headers=staff.role(Role.OPERATOR)), 403, "forbidden")
    assert_problem(client.get("/agreements", headers=staff.role(Role.CITIZEN)), 403, "forbidden")
    assert_problem(client.get("/agreements"), 401, "invalid_token")
    edu = staff.admin("EDU")
    as_consumer = client.get("/agreements", params={"role": "consumer"}, headers=edu).json()
    as_provider = client.get("/agreements", params={"role": "provider"}, headers=edu).json()
    assert (as_consumer["total"], as_provider["total"]) == (1, 0)
    assert client.get(url).status_code == 401


def approve_as(client: TestClient, headers: dict[str, str], agreement_id: str) -> Any:
    body = {"decision": "approve", "fields": ["area"]}
    return client.post(f"/agreements/{agreement_id}/decision", json=body, headers=headers)


def test_an_approval_stays_within_the_application(client: TestClient, staff: Staff) -> None:
    agreement_id = apply(client, staff, fields=["certificate_no", "area"])["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"fields": ["certificate_no", "address"]}, "/fields/1"),
        (
            {"fields": ["area"], "overrides": {"certificate_no": "hash"}},
            "/overrides/certificate_no",
        ),
        (
            {"fields": ["area"], "row_condition": {"field": "colour", "prefix": "3"}},
            "/row_condition/field",
        ),
        ({"fields": ["area"], "valid_until": future(400)}, "/valid_until"),
        ({"fields": ["area"], "overrides": {"area": "mask_name"}}, "/overrides/area"),
        (
            {"fields": ["certificate_no"], "overrides": {"certificate_no": "year"}},
            "/overrides/certificate_no",
        ),
    ]
    for decision, at in cases:
        body = assert_problem(
            approve(client, staff, agreement_id, **decision), 422, "invalid_decision"
        )
        assert body["errors"][0]["pointer"] == at
    bad_release = approve(client, staff, agreement_id, fields=["area"], overrides={"area": "rot13"})
    assert_problem(bad_release, 422, "malformed_request")
    shorter = approve(client, staff, agreement_id, fields=["area"], valid_until=future(30))
    assert shorter.status_code == 200, shorter.text
    assert shorter.json()["decision"]["valid_until"].startswith(future(31))


def test_revocation_removes_the_grant_at_once(
    client: TestClient, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    agreement_id = apply(client, staff)["id"]
    assert approve(client, staff, agreement_id).status_code == 200
    with unit_of_work(sessions) as session:
        grants = active_grants(session, system="edu-enrolment", now=datetime.now(UTC))
    assert [g.agreement_id for g in grants] == [agreement_id]
    url = f"/agreements/{agreement_id}/revoke"
    assert_problem(
        client.post(url, json={"reason": "x"}, headers=staff.admin("EDU")), 403, "forbidden"
    )
    assert_problem(client.post(url, json={}, headers=staff.admin("REG")), 422, "malformed_request")
    response = client.post(url, json={"reason": "协议方违反用途限制"}, headers=staff.admin("REG"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "revoked"
    assert response.json()["revocation"]["reason"] == "协议方违反用途限制"
    with unit_of_work(sessions) as session:
        assert active_grants(session, system="edu-enrolment", now=datetime.now(UTC)) == []
    seen = client.get(f"/agreements/{agreement_id}", headers=staff.admin("EDU")).json()
    assert seen["status"] == "revoked"
    assert [e["action"] for e in seen["history"]] == ["applied", "approved", "revoked"]
    again = client.post(url, json={"reason": "again"}, headers=staff.admin("REG"))
    assert_problem(again, 409, "not_revocable")
    pending = apply(client, staff)["id"]
    early = client.post(
        f"/agreements/{pending}/revoke", json={"reason": "x"}, headers=staff.admin("REG")
    )
    assert_problem(early, 409, "not_revocable")


def test_what_agreement_routes_answer_is_in_their_openapi_document(
    client: TestClient, staff: Staff
) -> None:
    agreement_id = apply(client, staff)["id"]
    one = f"/agreements/{agreement_id}"
    reg, edu = staff.admin("REG"), staff.admin("EDU")
    garbled = {**reg, "content-type": "application/json"}
    answers: list[tuple[str, str, str, dict[str, Any], int]] = [
        ("POST", "/agreements", "/agreements", {"json": application()}, 401),
        ("POST", "/agreements", "/agreements", {"json": {}, "headers": edu}, 422),
        ("GET", "/agreements", "/agreements?limit=0", {"headers": reg}, 422),
        ("GET", "/agreements/{agreement_id}", "/agreements/AG-NOPE", {"headers": reg}, 404),
        ("GET", "/agreements/{agreement_id}", one, {"headers": staff.role(Role.OPERATOR)}, 403),
        ("POST", "/agreements/{agreement_id}/decision", f"{one}/decision",
         {"content": b'{"decision": "\xff"}', "headers": garbled}, 422),
        ("POST", "/agreements/{agreement_id}/revoke", f"{one}/revoke",
         {"json": {"reason": "x"}, "headers": reg}, 409),
    ]  # fmt: skip
    for method, route, url, options, status in answers:
        response = client.request(method, url, **options)
        assert response.status_code == status, (method, url, response.text)
        assert_documented(client, method, route, response)


def test_ten_working_days_skip_weekends_and_holidays() -> None:
    calendar = official_calendar()
    saturday = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert due_date(saturday) == date(2026, 12, 4)
    # 中秋 25–27 Sep and 国庆 1–7 Oct are off; Saturday 10 Oct is worked (调休).
    assert add_working_days(date(2026, 9, 24), 10, calendar) == date(2026, 10, 15)
    assert add_working_days(date(2026, 9, 24), 10, WorkingCalendar()) == date(2026, 10, 8)
    # 春节 15–23 Feb off, Saturday 14 Feb worked.
    assert add_working_days(date(2026, 2, 13), 1, calendar) == date(2026, 2, 14)
    assert add_working_days(date(2026, 2, 14), 1, calendar) == date(2026, 2, 24)
    # A submission late on Friday evening UTC is already Saturday in China.
    assert due_date(datetime(2026, 11, 20, 17, 0, tzinfo=UTC)) == date(2026, 12, 4)


def test_pending_past_the_due_day_is_overdue(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    with unit_of_work(sessions) as session:
        agreement = apply_for_agreement(session, EDU_ADMIN, application(), now=now)
    assert agreement.due_by == date(2026, 12, 4)
    last_day = datetime(2026, 12, 4, 23, 59, tzinfo=CHINA_TZ)
    with unit_of_work(sessions) as session:
        [view] = agreement_views(session, [agreement], now=last_day)
        assert (view["status"], view["overdue"]) == ("pending", False)
        [view] = agreement_views(session, [agreement], now=last_day + timedelta(minutes=1))
        assert (view["status"], view["overdue"]) == ("pending", True)
        decided = decide_application(
            session,
            REG_ADMIN,
            agreement.id,
            Approval(fields=("area",)),
            keys=dev_keys(),
            now=last_day,
        )
        [view] = agreement_views(session, [decided], now=last_day + timedelta(days=3))
        assert (view["status"], view["overdue"]) == ("approved", False)


def test_overdue_over_http(
    client: TestClient, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    agreement_id = apply(client, staff)["id"]
    submitted = datetime.now(UTC) - timedelta(days=30)
    with unit_of_work(sessions) as session:
        session.execute(
            update(Agreement)
            .where(Agreement.id == agreement_id)
            .values(submitted_at=submitted, due_by=due_date(submitted))
        )
    for side in ("EDU", "REG"):
        seen = client.get(f"/agreements/{agreement_id}", headers=staff.admin(side)).json()
        assert (seen["status"], seen["overdue"]) == ("pending", True)
    listed = client.get("/agreements", params={"status": "pending"}, headers=staff.admin("REG"))
    assert [a["overdue"] for a in listed.json()["agreements"]] == [True]


def test_expired_agreements_grant_nothing(
    client: TestClient, staff: Staff, sessions: sessionmaker[Session], now: datetime
) -> None:
    with unit_of_work(sessions) as session:
        body = application(valid_from="2026-12-01", valid_until="2027-06-30")
        agreement = apply_for_agreement(session, EDU_ADMIN, body, now=now)
        decide_application(
            session, REG_ADMIN, agreement.id, Approval(fields=("area",)), keys=dev_keys(), now=now
        )
    moments = {
        "before": datetime(2026, 11, 30, 15, 59, tzinfo=UTC),
        "first": datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
        "last": datetime(2027, 6, 30, 15, 59, tzinfo=UTC),
        "after": datetime(2027, 6, 30, 16, 0, tzinfo=UTC),
    }
    with unit_of_work(sessions) as session:
        active = {
            k: len(active_grants(session, system="edu-enrolment", now=t))
            for k, t in moments.items()
        }
        assert active == {"before": 0, "first": 1, "last": 1, "after": 0}
        [view] = agreement_views(session, [agreement], now=moments["after"])
        assert view["status"] == "expired"
        for status, count in (("expired", 1), ("approved", 0)):
            _, total = list_agreements(
                session, AUDITOR, now=moments["after"], status=AgreementStatus(status)
            )
            assert total == count
    with unit_of_work(sessions) as session:
        session.execute(
            update(Agreement)
            .where(Agreement.id == agreement.id)
            .values(valid_until=datetime.now(UTC) - timedelta(minutes=1))
        )
    seen = client.get(f"/agreements/{agreement.id}", headers=staff.admin("EDU")).json()
    assert seen["status"] == "expired"
    expired = client.get("/agreements", params={"status": "expired"}, headers=staff.admin("REG"))
    assert expired.json()["total"] == 1


@pytest.fixture
def loaded(sessions: sessionmaker[Session], now: datetime, systems: None) -> None:
    with unit_of_work(sessions) as session:
        load_agreement_documents(session, demo_agreement_paths(), now, keys=dev_keys())


def _grant(session: Session, agreement_id: str, now: datetime) -> Grant:
    """The active grant of one demo agreement."""
    system = "edu-enrolment" if "-EDU-" in agreement_id else "mca-dibao"
    [grant] = [
        g for g in active_grants(session, system=system, now=now) if g.agreement_id == agreement_id
    ]
    return grant


@pytest.mark.usefixtures("loaded")
def test_use_counts_are_exact_under_concurrency(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    agreement_id = "AG-DEMO-EDU-REG-0001"

    def use(_: int) -> int:
        with unit_of_work(sessions, write=True) as session:
            return count_use(session, agreement_id, now)

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(use, range(80)))
    assert sorted(counts) == list(range(1, 81))
    with unit_of_work(sessions) as session:
        grant = _grant(session, agreement_id, now)
        assert grant.used_today == 80
        # The day is China's: 16:00 UTC is already the next day there.
        next_day = now.replace(hour=16)
        assert _grant(session, agreement_id, next_day).used_today == 0
        assert count_use(session, agreement_id, next_day) == 1


@pytest.mark.usefixtures("loaded")
def test_demo_documents_load_as_approved_grants(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    with unit_of_work(sessions) as session:
        edu_hrss, edu = active_grants(session, system="edu-enrolment", now=now)  # by id
        mca, mca_property = active_grants(session, system="mca-dibao", now=now)
    assert dict(edu.fields) == {
        "certificate_no": None,
        "address": None,
        "owners": Release.MASK_NAME,
        "area": None,
    }
    assert edu.purposes == frozenset({"school-enrolment"})
    assert not edu.requires_consent
    assert edu_hrss.resource == "HRSS-SB-0001"
    assert dict(edu_hrss.fields) == {"months_paid": None}
    assert mca.resource == "HRSS-SB-0001"
    assert mca.requires_consent
    assert "pension_amount" in mca.fields
    assert "status" not in mca.fields
    assert mca.purposes == frozenset({"minimum-living-allowance"})
    assert mca_property.resource == "REG-BDC-0001"
    assert dict(mca_property.fields) == {"certificate_no": None, "area": None}


@pytest.mark.usefixtures("loaded")
def test_loading_is_idempotent_and_refuses_a_changed_document(
    sessions: sessionmaker[Session], now: datetime, tmp_path: Path
) -> None:
    with unit_of_work(sessions) as session:
        again = load_agreement_documents(session, demo_agreement_paths(), now, keys=dev_keys())
    assert [o.created for o in again] == [False] * len(demo_agreement_paths())
    source = demo_agreement_paths()[0]
    document = yaml.safe_load(source.read_text("utf-8"))
    document["fields"] = ["certificate_no"]
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    with pytest.raises(AgreementChanged) as caught, unit_of_work(sessions) as session:
        load_agreement_documents(session, [changed], now, keys=dev_keys())
    assert str(changed) in caught.value.detail
    assert "new id" in caught.value.detail
    document["id"] = "AG-DEMO-EDU-REG-0002"
    document["fields"] = ["certificate_no", "division"]
    unconditional = tmp_path / "unconditional.yaml"
    unconditional.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    with pytest.raises(NoAgreementNeeded), unit_of_work(sessions) as session:
        load_agreement_documents(session, [unconditional], now, keys=dev_keys())
    with unit_of_work(sessions) as session:
        assert len(_grant(session, "AG-DEMO-EDU-REG-0001", now).fields) == 4
        assert session.get(Agreement, "AG-DEMO-EDU-REG-0002") is None


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TONGBAN_DATABASE_URL", database_url)
    return CliRunner()


def test_cli_loads_and_lists_agreements(cli: CliRunner, tmp_path: Path) -> None:
    paths = [str(p) for p in demo_agreement_paths()]
    first = cli.invoke(agreements_app, ["load", *paths, "--json"])
    assert first.exit_code == 0, first.output
    assert [(o["id"], o["created"]) for o in json.loads(first.stdout)] == [
        ("AG-DEMO-EDU-REG-0001", True),
        ("AG-DEMO-EDU-HRSS-0001", True),
        ("AG-DEMO-MCA-HRSS-0001", True),
        ("AG-DEMO-MCA-REG-0001", True),
    ]
    second = cli.invoke(agreements_app, ["load", *paths])
    assert second.exit_code == 0
    assert second.stdout.count("unchanged") == len(demo_agreement_paths())
    listed = cli.invoke(agreements_app, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {(a["id"], a["status"]) for a in json.loads(listed.stdout)} == {
        ("AG-DEMO-EDU-HRSS-0001", "approved"),
        ("AG-DEMO-EDU-REG-0001", "approved"),
        ("AG-DEMO-MCA-HRSS-0001", "approved"),
        ("AG-DEMO-MCA-REG-0001", "approved"),
    }
    consent_doc = next(p for p in paths if "mca-dibao-hrss" in p)  # requires consent
    document = yaml.safe_load(Path(consent_doc).read_text("utf-8"))
    document["requires_consent"] = False
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    failed = cli.invoke(agreements_app, ["load", str(changed)])
    assert failed.exit_code != 0
    assert isinstance(failed.exception, AgreementChanged)
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: agreement\nid: [unclosed\n", "utf-8")
    failed = cli.invoke(agreements_app, ["load", str(broken)])
    assert failed.exit_code != 0
    assert "not valid YAML" in str(failed.exception)
    revoked = cli.invoke(agreements_app, ["list", "--status", "revoked", "--json"])
    assert json.loads(revoked.stdout) == []


@pytest.mark.usefixtures("systems")
def test_a_document_whose_release_cannot_apply_is_refused(
    sessions: sessionmaker[Session], now: datetime, tmp_path: Path
) -> None:
    source = next(p for p in demo_agreement_paths() if "edu-enrolment-reg" in p.name)
    document = yaml.safe_load(source.read_text("utf-8"))
    document["id"] = "AG-TEST-UNFIT-0001"
    document["fields"] = [{"name": "area", "release": "mask_name"}]
    unfit = tmp_path / "unfit.yaml"
    unfit.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    with pytest.raises(TongbanError) as caught, unit_of_work(sessions) as session:
        load_agreement_documents(session, [unfit], now, keys=dev_keys())
    assert "cannot apply to 'area'" in caught.value.detail
