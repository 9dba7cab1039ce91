"""The disputed mark (异议标注) on subscription events (SQLite and PostgreSQL): an event that
releases an attribute under an open correction request for that person carries the mark in its
payload, as query and verify answers do; an event about someone else does not, and neither does
one after the request is answered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from exchange.app import create_app
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.security.identity import Role
from exchange.settings import Settings
from tests.exchange.world import MCA, Hub, Person
from tests.subscriptions.conftest import STATUS, call, change_status, core, insured, status_body
from tests.subscriptions.conftest import subscribe as subscribed

PURPOSE = "minimum-living-allowance"


@pytest.fixture
def city(tmp_path: Path) -> LegacyWorld:
    return build_legacy_world(tmp_path / "city", citizens=60, seed=9)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    settings = Settings(
        database_url=database_url, mode="dev", adapters_file=city.adapters_file, scheduler="off"
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Hub(client, live_demo_world, sessions)


def _filed(hub: Hub, person: str) -> dict[str, Any]:
    """The allowance system reads the person's insurance status and disputes it."""
    body = {"subject": {"id_type": "CN-RIC", "id": person}, "purpose": PURPOSE}
    answer = hub.query({**body, "attributes": [STATUS]}, system=MCA)
    assert answer.status_code == 200, answer.text
    assert STATUS in answer.json()["attributes"]
    filed = hub.client.post(
        "/corrections",
        json={
            "subject": body["subject"],
            "attribute": STATUS,
            "request_id": answer.json()["request_id"],
            "evidence": "申请人提供的劳动合同显示其仍在职，参保状态有误",
        },
        headers={"authorization": f"Bearer {hub.token(MCA)}"},
    )
    assert filed.status_code == 201, filed.text
    found: dict[str, Any] = filed.json()
    return found


def _events(hub: Hub, subscription: str) -> dict[str, dict[str, Any]]:
    """The pulled events' attributes, by the subject's ID number (the newest per subject)."""
    listed = call(hub, "GET", f"/subscriptions/{subscription}/events").json()["events"]
    return {
        e["payload"]["data"]["subject"]["id"]: e["payload"]["data"]["attributes"] for e in listed
    }


def test_an_event_releasing_a_disputed_attribute_carries_the_mark(
    hub: Hub, city: LegacyWorld
) -> None:
    disputed, other = insured(city, 2)
    correction = _filed(hub, disputed)
    made = subscribed(hub, status_body([disputed, other], None))
    assert made.status_code == 201, made.text
    core(hub).change_reader.run()  # the first run reads the stream to its end
    for person in (disputed, other):
        change_status(city, person)
    core(hub).change_reader.run()
    events = _events(hub, made.json()["id"])
    mark = events[disputed][STATUS]["disputed"]
    assert mark == {"correction": correction["id"], "since": correction["filed_at"]}
    assert "disputed" not in events[other][STATUS]

    hrss = Person(hub, "hrss-admin", Role.DEPARTMENT_ADMIN, "HRSS")
    rejected = hrss.post(
        f"/department/corrections/{correction['id']}/reject",
        {"reason": "经核实，参保状态与社保登记一致"},
    )
    assert rejected.status_code == 200, rejected.text
    change_status(city, disputed, "1")
    core(hub).change_reader.run()
    assert "disputed" not in _events(hub, made.json()["id"])[disputed][STATUS]
