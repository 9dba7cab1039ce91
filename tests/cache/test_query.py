"""A cached resource through the real HTTP app: ``POST /exchange/query`` answers from the
cache with the sync time as ``as_of``, keeps answering the cached value after the source
changes until the next sync, and answers ``unavailable`` ``not_synced`` before any sync."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.sources.cache.crypto import CacheCrypto
from exchange.sources.cache.sync import CacheSync
from exchange.sources.registry import SourceRegistry
from tests import factories
from tests.exchange.world import Hub, hub_over
from tests.profiles import key_schedule

RESOURCE = "HRSS-SB-0001"
CACHED = {RESOURCE: {"strategy": "watermark", "every_s": 3600}}
STATUS = {"1": "contributing", "2": "suspended", "3": "terminated", "4": "retired"}


@pytest.fixture
def city(tmp_path: Path) -> LegacyWorld:
    return build_legacy_world(tmp_path / "city", citizens=120, seed=9, cached=CACHED)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    yield from hub_over(database_url, sessions, live_demo_world, city.adapters_file)


def _insured(city: LegacyWorld) -> tuple[str, str]:
    """An insured person's ID number and status code, straight from the HRSS store."""
    engine = create_engine(city.targets.hrss_url)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT aac002, aac008 FROM si_person LIMIT 1")).one()
    engine.dispose()
    return str(row[0]), str(row[1])


def _change_status(city: LegacyWorld, subject: str, code: str) -> None:
    engine = create_engine(city.targets.hrss_url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE si_person SET aac008 = :c, updated_at = :t WHERE aac002 = :s"),
            {"c": code, "t": "2030-01-01 00:00:00", "s": subject},
        )
    engine.dispose()


def _sync(sessions: sessionmaker[Session], city: LegacyWorld) -> Any:
    sources = SourceRegistry.from_file(city.adapters_file)
    try:
        return CacheSync(sessions, sources, CacheCrypto(key_schedule(factories.dev_secret()))).run(
            RESOURCE
        )
    finally:
        sources.close()


def _ask(hub: Hub, subject: str) -> dict[str, Any]:
    response = hub.query(
        {
            "subject": {"id_type": "CN-RIC", "id": subject},
            "purpose": "school-enrolment",
            "attributes": ["social_insurance.status"],
        }
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_never_synced_cached_resource_is_unavailable_not_synced(
    hub: Hub, city: LegacyWorld
) -> None:
    subject, _ = _insured(city)
    body = _ask(hub, subject)
    assert body["unavailable"] == {"social_insurance.status": "not_synced"}
    assert body["attributes"] == {}


def test_the_cache_answers_with_its_sync_time_until_the_next_sync(
    hub: Hub, city: LegacyWorld, sessions: sessionmaker[Session]
) -> None:
    subject, code = _insured(city)
    synced = _sync(sessions, city)
    released = _ask(hub, subject)["attributes"]["social_insurance.status"]
    assert released["value"] == STATUS[code]
    as_of = synced.as_of.isoformat().replace("+00:00", "Z")
    assert released["source"] == {
        "department": "HRSS",
        "resource": RESOURCE,
        "version": 1,
        "as_of": as_of,
    }

    changed = "3" if code != "3" else "4"
    _change_status(city, subject, changed)
    stale = _ask(hub, subject)["attributes"]["social_insurance.status"]
    assert (stale["value"], stale["source"]["as_of"]) == (STATUS[code], as_of)

    again = _sync(sessions, city)
    assert again.written == 1  # only the changed row
    fresh = _ask(hub, subject)["attributes"]["social_insurance.status"]
    assert fresh["value"] == STATUS[changed]
    assert fresh["source"]["as_of"] == again.as_of.isoformat().replace("+00:00", "Z")
