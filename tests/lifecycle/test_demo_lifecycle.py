"""The demo city's lifecycle: the authority's pages have a queue, overdue items and requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from exchange.db import unit_of_work
from exchange.demo.lifecycle import seed_lifecycle
from exchange.security.identity import Role

pytestmark = pytest.mark.usefixtures("demo_catalogue")


def test_the_demo_gives_the_authority_a_queue_overdue_items_and_requests(
    client: TestClient, as_staff: Callable[..., dict[str, str]]
) -> None:
    sessions = client.app.state.hub.sessions  # type: ignore[attr-defined]
    with unit_of_work(sessions, write=True) as session:
        made = seed_lifecycle(session, datetime.now(UTC))
    assert made == {"submissions": 3, "update_duties": 2, "demands": 3}
    authority = as_staff(Role.DATA_AUTHORITY, "DSJ")
    queue = client.get(
        "/catalogue/submissions", params={"status": "submitted"}, headers=authority
    ).json()["submissions"]
    assert sorted(s["resource"] for s in queue) == ["MCA-LY-0001", "REG-DY-0001"]
    assert [s["resource"] for s in queue if s["review"]["overdue"]] == ["REG-DY-0001"]
    overdue = client.get(
        "/catalogue/update-duties", params={"overdue": "true"}, headers=authority
    ).json()["duties"]
    assert [d["resource"] for d in overdue] == ["PSB-HJ-0001"]
    demands = client.get("/demands", headers=authority).json()["demands"]
    assert sorted(d["status"] for d in demands) == ["connected", "filed", "routed"]
    returned = client.get(
        "/catalogue/submissions",
        params={"status": "returned"},
        headers=as_staff(Role.DEPARTMENT_ADMIN, "HRSS"),
    ).json()["submissions"]
    assert returned[0]["reasons"].startswith("使用用途")
