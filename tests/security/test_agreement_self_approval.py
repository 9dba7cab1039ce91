"""Nobody decides their own agreement application (separation of duties).

The review's finding: one staff member who is an admin of both the consumer and the provider
department (or of a department that is both) applied for conditional sharing and approved it
themselves. Over real HTTP against a served demo hub: the applicant is recorded
(``submitted_by``), their decision either way is a 403 problem+json ``own_application`` that
changes nothing, and another admin of the provider can still decide.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.servers import DemoHub

PROBLEM = "application/problem+json"


def _admin(demo: DemoHub, sub: str, department: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.id_token(sub, 'department_admin', department)}"}


def _apply(demo: DemoHub, sub: str, department: str, **application: Any) -> dict[str, Any]:
    until = (datetime.now(UTC).date() + timedelta(days=100)).isoformat()
    body = {"justification": "核验申请人家庭情况", "valid_until": until, **application}
    response = httpx.post(
        f"{demo.base}/agreements", headers=_admin(demo, sub, department), json=body, timeout=10
    )
    assert response.status_code == 201, response.text
    applied: dict[str, Any] = response.json()
    assert applied["submitted_by"] == sub  # who applied is on record
    return applied


def _decide(demo: DemoHub, agreement: str, sub: str, department: str, body: Any) -> Any:
    return httpx.post(
        f"{demo.base}/agreements/{agreement}/decision",
        headers=_admin(demo, sub, department),
        json=body,
        timeout=10,
    )


def _status(demo: DemoHub, agreement: str, department: str) -> str:
    seen = httpx.get(
        f"{demo.base}/agreements/{agreement}",
        headers=_admin(demo, "an-auditing-admin", department),
        timeout=10,
    )
    status: str = seen.json()["status"]
    return status


def _assert_own_application(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "own_application"
    assert problem["status"] == 403


APPROVE = {"decision": "approve", "fields": ["certificate_no"]}
REFUSE = {"decision": "refuse", "reason": "不予批准"}


@pytest.mark.parametrize("decision", [APPROVE, REFUSE], ids=["approve", "refuse"])
def test_an_admin_of_both_departments_cannot_decide_their_own_application(
    demo: DemoHub, decision: dict[str, Any]
) -> None:
    """The same staff sub, signed in once as an EDU admin and once as a REG admin."""
    applied = _apply(
        demo,
        "dual-admin-7",
        "EDU",
        system="edu-enrolment",
        resource="REG-BDC-0001",
        fields=["certificate_no"],
        purpose="school-enrolment",
        legal_basis="《中华人民共和国义务教育法》第十二条",
    )
    own = _decide(demo, applied["id"], "dual-admin-7", "REG", decision)
    _assert_own_application(own)
    assert _status(demo, applied["id"], "REG") == "pending"

    other = _decide(demo, applied["id"], "reg-admin-2", "REG", decision)
    assert other.status_code == 200, other.text
    assert other.json()["decision"]["by"] == "reg-admin-2"


def test_a_department_that_is_both_sides_needs_a_second_admin_to_decide(demo: DemoHub) -> None:
    """MCA's dibao system applies for MCA's own conditional dibao fields."""
    applied = _apply(
        demo,
        "mca-admin-1",
        "MCA",
        system="mca-dibao",
        resource="MCA-DB-0001",
        fields=["monthly_amount", "since"],
        purpose="minimum-living-allowance",
        legal_basis="《社会救助暂行办法》第十一条",
    )
    assert (applied["consumer"]["department"], applied["provider"]) == ("MCA", "MCA")
    body = {"decision": "approve", "fields": ["since"]}
    _assert_own_application(_decide(demo, applied["id"], "mca-admin-1", "MCA", body))
    assert _status(demo, applied["id"], "MCA") == "pending"

    approved = _decide(demo, applied["id"], "mca-admin-2", "MCA", body)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["submitted_by"] == "mca-admin-1"
