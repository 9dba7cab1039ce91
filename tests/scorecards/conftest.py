"""Fixtures of the feedback and scorecard tests: a hub over the demo world with its legacy
sources, and people who act through the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.security.identity import Role
from tests.exchange.world import Hub, Person, hub_over, showcase_people

SERVICE_ITEM = "EDU-RXDJ-001"
PURPOSE = "school-enrolment"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=200, seed=17)


@pytest.fixture(scope="module")
def people(city: LegacyWorld) -> dict[str, str]:
    return showcase_people(city)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    yield from hub_over(database_url, sessions, live_demo_world, city.adapters_file)


def handled(hub: Hub, person: str, item: str = SERVICE_ITEM) -> str:
    """The school enrolment system handles *item* for *person*: the request id."""
    body = {
        "subject": {"id_type": "CN-RIC", "id": person},
        "purpose": PURPOSE,
        "service_item": item,
    }
    answer = hub.query(body)
    assert answer.status_code == 200, answer.text
    request_id: str = answer.json()["request_id"]
    return request_id


def citizen(hub: Hub, person: str) -> Person:
    return Person(hub, person, Role.CITIZEN)


def admin(hub: Hub, department: str) -> Person:
    return Person(hub, f"{department.lower()}-admin", Role.DEPARTMENT_ADMIN, department)


def authority(hub: Hub) -> Person:
    return Person(hub, "dsj-reviewer", Role.DATA_AUTHORITY)
