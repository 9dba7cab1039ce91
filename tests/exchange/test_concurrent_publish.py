"""Concurrent publishes of one resource: each either lands as its own version or is told to
retry (409); never a 500, never a gap or a duplicate in the version history."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from exchange.security.identity import Role

pytestmark = pytest.mark.usefixtures("demo_catalogue")


def test_parallel_publishes_serialise(client: TestClient, staff_token: Callable[..., str]) -> None:
    headers = {"Authorization": f"Bearer {staff_token(Role.DEPARTMENT_ADMIN, 'MCA')}"}
    base = client.get("/catalogue/resources/MCA-HY-0001").json()["descriptor"]
    base["source"] = {"adapter": "sql", "mapping": "mca/marriage"}

    def publish(n: int) -> int:
        document = {**base, "summary": f"第{n}次修订"}
        response = client.put("/catalogue/resources/MCA-HY-0001", json=document, headers=headers)
        assert response.status_code in (201, 409), response.text
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(publish, range(16)))
    versions = client.get("/catalogue/resources/MCA-HY-0001/versions").json()["versions"]
    numbers = [v["version"] for v in versions]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) == 1 + statuses.count(201)
    assert statuses.count(201) >= 1
