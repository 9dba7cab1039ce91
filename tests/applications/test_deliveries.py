"""The delivery clock of an agreement for the service interface stops at its first query that
released a field under it, read from the audit log by the ``agreements.deliveries`` job (the
query pipeline is not touched): not before the first query, not at a query that released
nothing under it, dated at the query (not at the job's run), once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from exchange.agreements.jobs import jobs, read_deliveries
from exchange.app import create_app
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.jobs.spec import JobContext
from exchange.security.identity import Role
from exchange.settings import Settings
from tests.exchange.world import EDU, Hub, Person, showcase_people

DIBAO = "MCA-DB-0001"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=60, seed=11)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    settings = Settings(database_url=database_url, mode="dev", adapters_file=city.adapters_file)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Hub(client, live_demo_world, sessions)


def _approved(hub: Hub, modes: list[str]) -> str:
    """EDU's sharing officer applies for the dibao register's conditional ``since``; MCA's
    approves."""
    body = {
        "system": EDU,
        "resource": DIBAO,
        "fields": ["since"],
        "purpose": "school-enrolment",
        "legal_basis": "《中华人民共和国义务教育法》第十二条",
        "justification": "入学登记核验低保家庭，减免相关费用。",
        "valid_until": (datetime.now(UTC).date() + timedelta(days=300)).isoformat(),
        "use": {
            "scenario": {"description": "义务教育入学登记费用减免"},
            "scope": {"population": "named", "description": "申请入学儿童的监护人"},
            "sharing_modes": modes,
        },
    }
    filed = Person(hub, "edu-sharing", Role.SHARING_OFFICER, "EDU").post("/agreements", body)
    assert filed.status_code == 201, filed.text
    mca = Person(hub, "mca-sharing", Role.SHARING_OFFICER, "MCA")
    decided = mca.post(
        f"/agreements/{filed.json()['id']}/decision", {"decision": "approve", "fields": ["since"]}
    )
    assert decided.status_code == 200, decided.text
    agreement_id: str = filed.json()["id"]
    return agreement_id


def _view(hub: Hub, agreement_id: str) -> dict[str, Any]:
    seen = Person(hub, "edu-sharing", Role.SHARING_OFFICER, "EDU").get(
        f"/agreements/{agreement_id}"
    )
    assert seen.status_code == 200, seen.text
    view: dict[str, Any] = seen.json()
    return view


def _run_job(hub: Hub) -> int:
    spec = next(s for s in jobs() if s.id == "agreements.deliveries")
    assert spec.run is read_deliveries
    outcome = read_deliveries(JobContext(Settings(), hub.sessions, datetime.now(UTC)))
    return outcome.rows


def test_the_first_query_under_the_agreement_stops_its_delivery_clock(
    hub: Hub, city: LegacyWorld
) -> None:
    agreement_id = _approved(hub, ["interface"])
    assert _run_job(hub) == 0  # approved, not used yet: the clock runs
    view = _view(hub, agreement_id)
    assert view["delivery"] is None
    assert view["delivery_due_by"] is not None

    person = showcase_people(city)["receives_dibao"]
    ask = {"subject": {"id_type": "CN-RIC", "id": person}, "purpose": "school-enrolment"}
    nothing = hub.query({**ask, "attributes": ["dibao.receiving"]})  # unconditional: no agreement
    assert nothing.status_code == 200, nothing.text
    assert _run_job(hub) == 0

    answer = hub.query({**ask, "attributes": ["dibao.since"]})
    assert answer.status_code == 200, answer.text
    assert "dibao.since" in answer.json()["attributes"]
    index = answer.json()["audit"]["index"]
    assert _run_job(hub) == 1
    delivery = _view(hub, agreement_id)["delivery"]
    assert delivery["channel"] == "interface"
    assert delivery["audit_index"] == index  # the query's own entry
    assert delivery["on_time"] is True
    assert delivery["by"] == "tongban-scheduler"

    assert hub.query({**ask, "attributes": ["dibao.since"]}).status_code == 200
    assert _run_job(hub) == 0  # once: a later query changes nothing
    assert _view(hub, agreement_id)["delivery"] == delivery
    events = [e["event"] for e in _view(hub, agreement_id)["log"]]
    assert events.count("delivered") == 1


def test_a_batch_only_agreement_is_not_delivered_by_a_query(hub: Hub, city: LegacyWorld) -> None:
    agreement_id = _approved(hub, ["batch"])
    person = showcase_people(city)["receives_dibao"]
    ask = {"subject": {"id_type": "CN-RIC", "id": person}, "purpose": "school-enrolment"}
    hub.query({**ask, "attributes": ["dibao.since"]})
    assert _run_job(hub) == 0
    assert _view(hub, agreement_id)["delivery"] is None
