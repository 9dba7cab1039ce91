"""The catalogue's sharing methods (共享方式) and row conditions, attacked through a real served
hub: a verification-only resource (the ID card status, ``method: [verification]``) must never
leave through ``POST /exchange/query``, whatever the request looks like; a resource not offered
for verification cannot be verified; and a grant's row condition must not tell whether the
subject has records outside it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.servers import DemoHub

EDU = "edu-enrolment"
MCA = "mca-dibao"
IDCARD = ["idcard.status", "idcard.valid_until"]


def ask(demo: DemoHub, path: str, system: str, **body: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {demo.system_token(system)}"}
    return httpx.post(f"{demo.base}{path}", json=body, headers=headers, timeout=30)


def subject(number: str) -> dict[str, str]:
    return {"id_type": "CN-RIC", "id": number}


def staff(demo: DemoHub, role: str, department: str | None = None) -> dict[str, str]:
    sub = f"methods-{role}-{department or 'hub'}".lower()
    return {"authorization": f"Bearer {demo.id_token(sub, role, department)}"}


@pytest.mark.parametrize("system", [EDU, MCA])
def test_a_verification_only_resource_never_leaves_through_query(
    demo: DemoHub, system: str
) -> None:
    purpose = "school-enrolment" if system == EDU else "minimum-living-allowance"
    lost = demo.subject("id_card_reported_lost")
    attempts: list[dict[str, Any]] = [
        {"attributes": IDCARD},
        {"attributes": ["idcard.status", "household.name"]},
        {"attributes": IDCARD, "all_or_nothing": True},
    ]
    for attempt in attempts:
        response = ask(
            demo, "/exchange/query", system, subject=subject(lost), purpose=purpose, **attempt
        )
        assert "reported_lost" not in response.text
        if attempt.get("all_or_nothing"):
            assert response.status_code == 409
            assert response.json()["denied"]["idcard.status"] == "method_not_offered"
            continue
        body = response.json()
        assert not set(body["attributes"]) & set(IDCARD)
        assert {a: body["denied"][a] for a in IDCARD if a in body["denied"]} == dict.fromkeys(
            [a for a in IDCARD if a in attempt["attributes"]], "method_not_offered"
        )
    verified = ask(
        demo,
        "/exchange/verify",
        system,
        subject=subject(lost),
        purpose=purpose,
        claims={"idcard.status": "reported_lost"},
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["results"] == {"idcard.status": "match"}


def test_the_refusal_is_audited_with_its_rule(demo: DemoHub) -> None:
    lost = demo.subject("id_card_reported_lost")
    response = ask(
        demo,
        "/exchange/query",
        EDU,
        subject=subject(lost),
        purpose="school-enrolment",
        attributes=["idcard.status"],
    )
    index = response.json()["audit"]["index"]
    entry = httpx.get(f"{demo.base}/audit/entries/{index}", headers=staff(demo, "auditor"))
    assert entry.status_code == 200, entry.text
    assert "sharing.method_not_offered" in entry.text
    assert "method_not_offered" in entry.text


def test_a_resource_not_offered_for_verification_cannot_be_verified(demo: DemoHub) -> None:
    owner = demo.subject("has_property")
    response = ask(
        demo,
        "/exchange/verify",
        EDU,
        subject=subject(owner),
        purpose="school-enrolment",
        claims={"property.owns_property_in(3301)": True, "property.certificate_no": "x"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["denied"] == {
        "property.owns_property_in(3301)": "method_not_offered",
        "property.certificate_no": "method_not_offered",
    }


def test_a_row_condition_does_not_tell_that_records_exist_elsewhere(demo: DemoHub) -> None:
    """MCA gets property addresses only in 110105 (no demo property lies there): an owner in
    the demo city and a person with no property at all must get the same answer."""
    application = {
        "system": MCA,
        "resource": "REG-BDC-0001",
        "fields": ["address"],
        "purpose": "minimum-living-allowance",
        "legal_basis": "《社会救助暂行办法》第十一条",
        "justification": "核对申请家庭在外区县的房产坐落。",
        "valid_until": (date.today() + timedelta(days=365)).isoformat(),
    }
    applied = httpx.post(
        f"{demo.base}/agreements", json=application, headers=staff(demo, "department_admin", "MCA")
    )
    assert applied.status_code == 201, applied.text
    decided = httpx.post(
        f"{demo.base}/agreements/{applied.json()['id']}/decision",
        json={
            "decision": "approve",
            "fields": ["address"],
            "row_condition": {"field": "division", "prefix": "110105"},
        },
        headers=staff(demo, "department_admin", "REG"),
    )
    assert decided.status_code == 200, decided.text

    def answer(kind: str) -> tuple[Any, ...]:
        body = ask(
            demo,
            "/exchange/query",
            MCA,
            subject=subject(demo.subject(kind)),
            purpose="minimum-living-allowance",
            attributes=["property.address"],
        ).json()
        released = {a: (v["value"], v["release"]) for a, v in body["attributes"].items()}
        return released, body["denied"], body["unavailable"]

    assert (
        answer("has_property")
        == answer("no_property")
        == (
            {"property.address": ([], "clear")},
            {},
            {},
        )
    )
