"""Catalogue entries reviewed before publication, over HTTP: draft, assessments, the head's
sign-off, submission on the review clock, the authority's decision; every refusal precise and
nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.lifecycle.clocks import due_after
from exchange.security.identity import Role
from tests.exchange.test_api_catalogue import assert_problem
from tests.lifecycle.conftest import PDF, demo_resource, new_entry

pytestmark = pytest.mark.usefixtures("demo_catalogue")

Headers = Callable[..., dict[str, str]]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def draft(client: TestClient, as_staff: Headers, document: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        "/catalogue/submissions", json=document, headers=as_staff(Role.DEPARTMENT_ADMIN, "MCA")
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def attach(client: TestClient, as_staff: Headers, sid: str, kind: str, data: bytes = PDF) -> Any:
    return client.put(
        f"/catalogue/submissions/{sid}/assessments/{kind}",
        params={"filename": f"{kind}评估报告.pdf"},
        content=data,
        headers={**as_staff(Role.DEPARTMENT_ADMIN, "MCA"), "Content-Type": "application/pdf"},
    )


def ready(client: TestClient, as_staff: Headers, document: dict[str, Any]) -> str:
    """A draft with both assessments, signed off and submitted; its id."""
    sid = str(draft(client, as_staff, document)["id"])
    assert attach(client, as_staff, sid, "secrecy").status_code == 200
    assert attach(client, as_staff, sid, "pia").status_code == 200
    head = as_staff(Role.DEPARTMENT_HEAD, "MCA", "mca-head")
    assert client.post(f"/catalogue/submissions/{sid}/sign-off", headers=head).status_code == 200
    admin = as_staff(Role.DEPARTMENT_ADMIN, "MCA")
    response = client.post(f"/catalogue/submissions/{sid}/submit", headers=admin)
    assert response.status_code == 200, response.text
    return sid


def test_an_entry_goes_from_draft_to_published_through_the_authoritys_review(
    client: TestClient, as_staff: Headers
) -> None:
    sid = ready(client, as_staff, new_entry())
    listed = client.get(
        "/catalogue/submissions",
        params={"status": "submitted"},
        headers=as_staff(Role.DATA_AUTHORITY, "BDB"),
    ).json()["submissions"]
    [queued] = [s for s in listed if s["id"] == sid]
    due = due_after(datetime.now(UTC), 2).isoformat()
    assert queued["review"] == {"due_on": due, "working_days_left": 2, "overdue": False}
    assert client.get("/catalogue/resources/MCA-LY-0001").status_code == 404
    decided = client.post(
        f"/catalogue/submissions/{sid}/review",
        json={"decision": "publish"},
        headers=as_staff(Role.DATA_AUTHORITY, "BDB", "bdb-reviewer"),
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (body["status"], body["published_version"]) == ("published", 1)
    assert [s["event"] for s in body["steps"]] == [
        "drafted",
        "attached",
        "attached",
        "signed_off",
        "submitted",
        "published",
    ]
    published = client.get("/catalogue/resources/MCA-LY-0001").json()
    assert published["version"] == 1
    assert published["published_by"] == "review:bdb-reviewer"


def test_the_department_sees_a_returned_entry_with_its_reasons(
    client: TestClient, as_staff: Headers
) -> None:
    sid = ready(client, as_staff, new_entry())
    authority = as_staff(Role.DATA_AUTHORITY, "BDB")
    refused = client.post(
        f"/catalogue/submissions/{sid}/review", json={"decision": "return"}, headers=authority
    )
    assert_problem(refused, 422, "reasons_required")
    client.post(
        f"/catalogue/submissions/{sid}/review",
        json={"decision": "return", "reasons": "使用用途过宽，请列明具体事项。"},
        headers=authority,
    )
    mine = client.get(
        f"/catalogue/submissions/{sid}", headers=as_staff(Role.DEPARTMENT_ADMIN, "MCA")
    ).json()
    assert (mine["status"], mine["reasons"]) == ("returned", "使用用途过宽，请列明具体事项。")
    assert mine["review"]["overdue"] is False


def test_a_reviewer_may_not_decide_their_own_departments_entry(
    client: TestClient, as_staff: Headers
) -> None:
    sid = ready(client, as_staff, new_entry())
    response = client.post(
        f"/catalogue/submissions/{sid}/review",
        json={"decision": "publish"},
        headers=as_staff(Role.DATA_AUTHORITY, "MCA"),
    )
    assert_problem(response, 403, "reviewer_own_department")
    still = client.get(
        f"/catalogue/submissions/{sid}", headers=as_staff(Role.DATA_AUTHORITY, "BDB")
    )
    assert still.json()["status"] == "submitted"
    assert client.get("/catalogue/resources/MCA-LY-0001").status_code == 404


def test_a_submission_without_assessments_or_sign_off_is_refused_listing_all_that_is_missing(
    client: TestClient, as_staff: Headers
) -> None:
    sid = draft(client, as_staff, new_entry())["id"]
    admin = as_staff(Role.DEPARTMENT_ADMIN, "MCA")
    body = assert_problem(
        client.post(f"/catalogue/submissions/{sid}/submit", headers=admin),
        422,
        "submission_incomplete",
    )
    assert [e["pointer"] for e in body["errors"]] == [
        "/assessments/secrecy",
        "/assessments/pia",
        "/sign_off",
    ]
    head = as_staff(Role.DEPARTMENT_HEAD, "MCA", "mca-head")
    early = client.post(f"/catalogue/submissions/{sid}/sign-off", headers=head)
    assert_problem(early, 422, "submission_incomplete")
    attach(client, as_staff, sid, "secrecy")
    attach(client, as_staff, sid, "pia")
    client.post(f"/catalogue/submissions/{sid}/sign-off", headers=head)
    attach(client, as_staff, sid, "pia", PDF + b"v2")  # a replaced document voids the sign-off
    body = assert_problem(
        client.post(f"/catalogue/submissions/{sid}/submit", headers=admin),
        422,
        "submission_incomplete",
    )
    assert [e["pointer"] for e in body["errors"]] == ["/sign_off"]
    view = client.get(f"/catalogue/submissions/{sid}", headers=admin).json()
    assert view["status"] == "draft"
    assert view["signed_off_by"] is None


def test_only_the_department_head_signs_off(client: TestClient, as_staff: Headers) -> None:
    sid = draft(client, as_staff, new_entry())["id"]
    attach(client, as_staff, sid, "secrecy")
    attach(client, as_staff, sid, "pia")
    for headers in (
        as_staff(Role.DEPARTMENT_ADMIN, "MCA"),
        as_staff(Role.DEPARTMENT_HEAD, "PSB", "psb-head"),
    ):
        response = client.post(f"/catalogue/submissions/{sid}/sign-off", headers=headers)
        assert response.status_code in (403, 404), response.text


def test_assessments_are_stored_with_their_digest_and_bad_documents_refused(
    client: TestClient, as_staff: Headers
) -> None:
    sid = draft(client, as_staff, new_entry())["id"]
    response = attach(client, as_staff, sid, "secrecy")
    [stored] = response.json()["assessments"]
    import hashlib

    assert stored["sha256"] == hashlib.sha256(PDF).hexdigest()
    admin = as_staff(Role.DEPARTMENT_ADMIN, "MCA")
    back = client.get(f"/catalogue/submissions/{sid}/assessments/secrecy", headers=admin)
    assert back.content == PDF
    assert back.headers["x-content-sha256"] == stored["sha256"]
    not_pdf = attach(client, as_staff, sid, "pia", b"hello")
    assert_problem(not_pdf, 422, "invalid_assessment")
    other = client.put(
        f"/catalogue/submissions/{sid}/assessments/pia",
        params={"filename": "a.txt"},
        content=b"text",
        headers={**admin, "Content-Type": "text/plain"},
    )
    assert_problem(other, 422, "invalid_assessment")
    docx = client.put(
        f"/catalogue/submissions/{sid}/assessments/pia",
        params={"filename": "pia.docx"},
        content=b"PK\x03\x04rest",
        headers={**admin, "Content-Type": DOCX},
    )
    assert docx.status_code == 200
    assert_problem(
        client.get(
            f"/catalogue/submissions/{sid}/assessments/pia",
            headers=as_staff(Role.DEPARTMENT_ADMIN, "PSB"),
        ),
        404,
        "submission_not_found",
    )


def test_a_conditional_entry_without_scope_and_uses_is_refused_and_nothing_stored(
    client: TestClient, as_staff: Headers
) -> None:
    document = new_entry()
    del document["sharing"]["scope"], document["sharing"]["uses"]
    admin = as_staff(Role.DEPARTMENT_ADMIN, "MCA")
    body = assert_problem(
        client.post("/catalogue/submissions", json=document, headers=admin),
        422,
        "conditional_scope_required",
    )
    assert [e["pointer"] for e in body["errors"]] == ["/sharing/scope", "/sharing/uses"]
    listed = client.get("/catalogue/submissions", headers=admin).json()["submissions"]
    assert listed == []


def test_a_not_shared_field_without_a_structured_citation_is_refused(
    client: TestClient, as_staff: Headers
) -> None:
    document = demo_resource("PSB-HJ-0001")
    field = next(f for f in document["fields"] if f["sharing"]["type"] == "not_shared")
    index = document["fields"].index(field)
    del field["sharing"]["legal_citation"]
    body = assert_problem(
        client.post(
            "/catalogue/submissions", json=document, headers=as_staff(Role.DEPARTMENT_ADMIN, "PSB")
        ),
        422,
        "legal_citation_required",
    )
    assert body["errors"][0]["pointer"] == f"/fields/{index}/sharing/legal_citation"
    field["sharing"]["legal_citation"] = {
        "kind": "law",
        "name": "《社会救助暂行办法》",
        "article": "第十一条",
    }
    body = assert_problem(
        client.post(
            "/catalogue/submissions", json=document, headers=as_staff(Role.DEPARTMENT_ADMIN, "PSB")
        ),
        422,
        "invalid_descriptor",
    )
    assert body["errors"][0]["pointer"] == f"/fields/{index}/sharing/legal_citation/name"


def test_an_entry_without_grading_is_refused(client: TestClient, as_staff: Headers) -> None:
    document = new_entry()
    del document["grading"]
    assert_problem(
        client.post(
            "/catalogue/submissions", json=document, headers=as_staff(Role.DEPARTMENT_ADMIN, "MCA")
        ),
        422,
        "grading_required",
    )


def test_put_on_a_reviewing_hub_makes_a_draft_not_a_version(
    client: TestClient, as_staff: Headers
) -> None:
    document = demo_resource("MCA-SW-0001")
    document["summary"] = "修改后的摘要。"
    response = client.put(
        "/catalogue/resources/MCA-SW-0001",
        content=json.dumps(document, ensure_ascii=False),
        headers={**as_staff(Role.DEPARTMENT_ADMIN, "MCA"), "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/catalogue/submissions/{response.json()['id']}"
    assert response.json()["status"] == "draft"
    assert client.get("/catalogue/resources/MCA-SW-0001").json()["version"] == 1
    again = client.put(
        "/catalogue/resources/MCA-SW-0001",
        content=json.dumps(document, ensure_ascii=False),
        headers={**as_staff(Role.DEPARTMENT_ADMIN, "MCA"), "Content-Type": "application/json"},
    )
    assert_problem(again, 409, "submission_open")


def test_a_second_source_of_one_data_element_is_refused(
    client: TestClient, as_staff: Headers
) -> None:
    document = new_entry()
    document["fields"][0]["data_element"] = "DE01002"  # PSB's 公民身份号码
    body = assert_problem(
        client.post(
            "/catalogue/submissions", json=document, headers=as_staff(Role.DEPARTMENT_ADMIN, "MCA")
        ),
        409,
        "data_source_conflict",
    )
    assert body["errors"][0]["pointer"] == "/fields/0/data_element"
    document["fields"][0]["source_department"] = "PSB"  # shares PSB's data item: allowed
    draft(client, as_staff, document)
    items = client.get("/catalogue/data-items").json()["data_items"]
    assert {
        "data_element": "DE01002",
        "source": "PSB",
        "resource": "PSB-HJ-0001",
        "field": "id_number",
    } in items


def test_others_are_refused(client: TestClient, as_staff: Headers) -> None:
    for role in (Role.OPERATOR, Role.AUDITOR):
        response = client.get("/catalogue/submissions", headers=as_staff(role, None))
        assert_problem(response, 403, "forbidden")
    assert_problem(client.get("/catalogue/submissions"), 401, "invalid_token")
