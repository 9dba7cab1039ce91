"""Freshness: a resource's declared update frequency against its last refresh (a cached one's
last successful sync, a live one's health probe), in the report, the gauges and the API."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from exchange.db import unit_of_work
from exchange.security.identity import Role
from exchange.sources.cache.crypto import CacheCrypto
from exchange.sources.cache.freshness import ResourceFreshness, freshness_gauges, freshness_report
from exchange.sources.cache.models import CacheSyncState
from exchange.sources.cache.sync import CacheSync
from exchange.sources.registry import SourceRegistry
from tests.cache.conftest import RESOURCE, LegacyTable, adapters_document
from tests.exchange.world import Hub, hub_over


def _entry(
    sessions: sessionmaker[Session], sources: SourceRegistry, now: datetime
) -> dict[str, ResourceFreshness]:
    with unit_of_work(sessions) as session:
        return {f.resource: f for f in freshness_report(session, sources, now)}


def test_a_cached_resource_is_overdue_until_synced_and_again_after_its_period(
    syncer: CacheSync,
    legacy: LegacyTable,
    sessions: sessionmaker[Session],
    registry: SourceRegistry,
) -> None:
    legacy.insert([("A1", "1", 1, "甲", 1)])
    before = syncer.run(RESOURCE).as_of - timedelta(hours=1)
    with unit_of_work(sessions, write=True) as session:  # forget the sync: never refreshed
        state = session.get(CacheSyncState, RESOURCE)
        assert state is not None
        synced_at, state.last_success_at = state.last_success_at, None
    never = _entry(sessions, registry, before)[RESOURCE]
    assert (never.mode, never.last_refreshed, never.due_by, never.overdue) == (
        "cached",
        None,
        None,
        True,
    )

    result = syncer.run(RESOURCE)
    assert synced_at is not None
    assert result.as_of > synced_at
    fresh = _entry(sessions, registry, result.as_of + timedelta(days=30))[RESOURCE]
    assert fresh.update_frequency == "monthly"
    assert fresh.last_refreshed == result.as_of
    assert fresh.due_by == result.as_of + timedelta(days=31)
    assert fresh.overdue is False
    late = _entry(sessions, registry, result.as_of + timedelta(days=32))[RESOURCE]
    assert late.overdue is True

    # Resources without a binding: nothing refreshes them.
    others = _entry(sessions, registry, result.as_of)
    assert others["PSB-HJ-0001"].mode == "unbound"
    assert others["PSB-HJ-0001"].overdue
    with unit_of_work(sessions) as session:
        gauges = {g[0]: g for g in freshness_gauges(session, registry, result.as_of)}
    assert gauges[RESOURCE] == (RESOURCE, "HRSS", 0.0, False)
    assert math.isinf(gauges["PSB-HJ-0001"][2])
    assert gauges["PSB-HJ-0001"][3] is True


def test_a_live_resource_is_fresh_while_its_source_answers(
    legacy: LegacyTable, sessions: sessionmaker[Session], demo_catalogue: None, now: datetime
) -> None:
    document = adapters_document(legacy.url)
    del document["resources"][RESOURCE]["mode"], document["resources"][RESOURCE]["sync"]
    live = SourceRegistry.from_document(document)
    try:
        entry = _entry(sessions, live, now)[RESOURCE]
        assert (entry.mode, entry.last_refreshed, entry.overdue) == ("live", now, False)
    finally:
        live.close()
    broken = adapters_document(f"sqlite:///{legacy.url.rsplit('/', 1)[0]}/missing/x.db")
    del broken["resources"][RESOURCE]["mode"], broken["resources"][RESOURCE]["sync"]
    down = SourceRegistry.from_document(broken)
    try:
        entry = _entry(sessions, down, now)[RESOURCE]
        assert (entry.mode, entry.last_refreshed, entry.overdue) == ("live", None, True)
    finally:
        down.close()


def test_the_api_serves_staff_and_refuses_citizens_and_strangers(
    client: TestClient, staff_token: Callable[..., str], demo_catalogue: None
) -> None:
    for role, department in ((Role.DEPARTMENT_ADMIN, "HRSS"), (Role.AUDITOR, None)):
        response = client.get(
            "/catalogue/freshness",
            headers={"authorization": f"Bearer {staff_token(role, department)}"},
        )
        assert response.status_code == 200, response.text
        entries = response.json()["resources"]
        assert {e["resource"] for e in entries} >= {RESOURCE, "PSB-HJ-0001", "REG-BDC-0001"}
        assert set(entries[0]) == {
            "resource",
            "provider",
            "mode",
            "update_frequency",
            "last_refreshed",
            "due_by",
            "overdue",
        }
        assert all(e["mode"] == "unbound" and e["overdue"] for e in entries)
    citizen = staff_token(Role.CITIZEN, None)
    refused = client.get("/catalogue/freshness", headers={"authorization": f"Bearer {citizen}"})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    anonymous = client.get("/catalogue/freshness")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "invalid_token"


def _hrss_freshness(hub: Hub) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {hub.token()}"}
    response = hub.client.get("/catalogue/freshness", headers=headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["resources"]
    return next(e for e in entries if e["resource"] == RESOURCE)


def _hrss_gauges(hub: Hub) -> tuple[float, float]:
    """The operator's /metrics: (age in seconds, overdue) of the cached resource."""
    identity = hub.client.app.state.hub.identity  # type: ignore[attr-defined]
    token = identity.issue_dev_token("ops-001", Role.OPERATOR, None)
    response = hub.client.get("/metrics", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    samples = {
        (s.name, s.labels.get("resource")): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return (
        samples[("tongban_resource_age_seconds", RESOURCE)],
        samples[("tongban_resource_overdue", RESOURCE)],
    )


def test_a_case_system_sees_a_cached_resource_become_fresh_after_its_sync(
    database_url: str,
    sessions: sessionmaker[Session],
    legacy: LegacyTable,
    crypto: CacheCrypto,
    tmp_path: Path,
    live_demo_world: Path,
) -> None:
    adapters = tmp_path / "adapters.json"
    adapters.write_text(json.dumps(adapters_document(legacy.url)), "utf-8")
    legacy.insert([("A1", "1", 1, "甲", 1)])
    hubs = cast(Generator[Hub], hub_over(database_url, sessions, live_demo_world, adapters))
    hub = next(hubs)
    try:
        before = _hrss_freshness(hub)
        assert (before["mode"], before["last_refreshed"], before["overdue"]) == (
            "cached",
            None,
            True,
        )
        assert _hrss_gauges(hub) == (math.inf, 1.0)
        registry = SourceRegistry.from_file(adapters)
        try:
            synced = CacheSync(sessions, registry, crypto).run(RESOURCE)
        finally:
            registry.close()
        after = _hrss_freshness(hub)
        stamp = synced.as_of.isoformat().replace("+00:00", "Z")
        due = (synced.as_of + timedelta(days=31)).isoformat().replace("+00:00", "Z")
        assert (after["last_refreshed"], after["due_by"], after["overdue"]) == (stamp, due, False)
        age, overdue = _hrss_gauges(hub)
        assert (0 <= age < 60, overdue) == (True, 0.0)
    finally:
        hubs.close()
