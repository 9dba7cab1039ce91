"""The data authority (主管部门) is a role of its own, denied by default: it signs in through the
development IdP like every role, every staff route of the hub that is not meant for it refuses
its token, and its own routes refuse everyone else."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.api.openapi import STAFF_SCHEME
from exchange.security.identity import Role

MEANT_FOR_IT = {
    ("get", "/authority/scorecards"),
    ("get", "/authority/scorecards.csv"),
    ("get", "/authority/feedback"),
    ("get", "/authority/compliance"),  # its compliance view (docs/lifecycle.md)
    ("get", "/authority/compliance/clocks"),
    ("get", "/authority/compliance/breaches"),
    ("get", "/authority/compliance/report"),
    ("get", "/agreements/extension-requests"),  # the extensions it approves (docs/lifecycle.md)
    ("get", "/authority/disputes"),  # the disputes escalated to it (docs/lifecycle.md)
    ("get", "/catalogue/submissions"),  # its review queue (docs/lifecycle.md)
    ("get", "/catalogue/update-duties"),  # the update duties it opens and extends
    ("get", "/demands"),  # the supply-demand requests it routes
    ("get", "/catalogue/freshness"),  # any staff: metadata of the catalogue
    ("get", "/readyz"),  # anyone; the authority sees no source checks
}
"""The staff routes that may answer the data authority 2xx."""


def _token(client: TestClient, role: str, **more: Any) -> str:
    answer = client.post("/dev/idp/token", json={"sub": "dsj-reviewer", "role": role, **more})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["id_token"]
    return token


def test_the_dev_idp_signs_in_the_data_authority_with_or_without_a_department(
    client: TestClient,
) -> None:
    hub = client.app.state.hub  # type: ignore[attr-defined]
    principal = hub.identity.verify(_token(client, "data_authority"))
    assert principal.role is Role.DATA_AUTHORITY
    assert principal.department is None
    # a reviewer's own department, whose catalogue entries they may not decide (docs/lifecycle.md)
    principal = hub.identity.verify(_token(client, "data_authority", department="DSJ"))
    assert (principal.role, principal.department) == (Role.DATA_AUTHORITY, "DSJ")


def _staff_operations(client: TestClient) -> list[tuple[str, str]]:
    document = client.get("/openapi.json").json()
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            schemes = {k for req in operation.get("security", []) for k in req}
            if STAFF_SCHEME in schemes:
                found.append((method, path))
    return sorted(found)


def test_every_staff_route_not_meant_for_the_authority_refuses_it(client: TestClient) -> None:
    headers = {"authorization": f"Bearer {_token(client, 'data_authority')}"}
    operations = _staff_operations(client)
    assert ("get", "/audit/entries") in operations  # the document lists the staff routes
    answered = {}
    for method, path in operations:
        url = re.sub(r"\{[^}]+\}", "X1", path)
        body = {} if method in ("post", "put", "patch") else None
        answer = client.request(method.upper(), url, headers=headers, json=body)
        assert answer.status_code < 500, (method, path, answer.text)
        answered[(method, path)] = answer.status_code
    allowed = {op for op, status in answered.items() if 200 <= status < 300}
    assert allowed <= MEANT_FOR_IT, sorted(allowed - MEANT_FOR_IT)
    assert answered[("get", "/authority/scorecards")] == 200


@pytest.mark.parametrize("role", ["citizen", "auditor", "operator", "department_admin"])
def test_the_authoritys_own_pages_refuse_every_other_role(client: TestClient, role: str) -> None:
    more = {"department": "PSB"} if role == "department_admin" else {}
    sub = "11010519491231002X" if role == "citizen" else "someone"
    answer = client.post("/dev/idp/token", json={"sub": sub, "role": role, **more})
    headers = {"authorization": f"Bearer {answer.json()['id_token']}"}
    for path in ("/authority/scorecards", "/authority/scorecards.csv"):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
