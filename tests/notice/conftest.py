"""The demo city and a hub over it, shared by the notice tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from exchange.demo.sources import LegacyWorld, build_legacy_world
from tests.exchange.world import Hub, hub_over, showcase_people


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=200, seed=23)


@pytest.fixture(scope="module")
def people(city: LegacyWorld) -> dict[str, str]:
    return showcase_people(city)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    yield from hub_over(database_url, sessions, live_demo_world, city.adapters_file)
