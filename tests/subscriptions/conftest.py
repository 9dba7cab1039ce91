"""A hub over the demo world with a small legacy city whose HRSS store the tests change, its
scheduler off (the tests run the subscription jobs themselves), retries fast."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from exchange.app import create_app
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.hub import Hub as HubCore
from exchange.settings import Settings
from tests.exchange.world import MCA, Hub

STATUS = "social_insurance.status"
_TICK = count(1)


@pytest.fixture
def city(tmp_path: Path) -> LegacyWorld:
    return build_legacy_world(tmp_path / "city", citizens=60, seed=9)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    settings = Settings(
        database_url=database_url,
        mode="dev",
        adapters_file=city.adapters_file,
        scheduler="off",
        subscription_max_attempts=4,
        subscription_retry_first_s=0.05,
        subscription_retry_max_s=0.2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Hub(client, live_demo_world, sessions)


def core(hub: Hub) -> HubCore:
    found: HubCore = hub.client.app.state.hub  # type: ignore[attr-defined]
    return found


def insured(city: LegacyWorld, n: int) -> list[str]:
    """*n* insured people's ID numbers, straight from the HRSS store."""
    engine = create_engine(city.targets.hrss_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT aac002 FROM si_person ORDER BY aac002 LIMIT :n"), {"n": n}
        ).all()
    engine.dispose()
    return [str(r[0]) for r in rows]


def change_status(city: LegacyWorld, subject: str, code: str = "3") -> None:
    """The HRSS department records a change (3: terminated), with a newer watermark each time."""
    engine = create_engine(city.targets.hrss_url)
    tick = next(_TICK)
    moment = f"2030-01-01 00:{tick // 60:02d}:{tick % 60:02d}"
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE si_person SET aac008 = :c, updated_at = :t WHERE aac002 = :s"),
            {"c": code, "t": moment, "s": subject},
        )
    engine.dispose()


def subscribe(hub: Hub, body: dict[str, Any], system: str = MCA) -> Any:
    headers = {"authorization": f"Bearer {hub.token(system)}"}
    return hub.client.post("/subscriptions", json=body, headers=headers)


def call(hub: Hub, method: str, path: str, body: Any = None, system: str = MCA) -> Any:
    headers = {"authorization": f"Bearer {hub.token(system)}"}
    return hub.client.request(method, path, json=body, headers=headers)


def status_body(subjects: list[str], url: str | None) -> dict[str, Any]:
    return {
        "purpose": "minimum-living-allowance",
        "attributes": [STATUS],
        "subjects": subjects,
        "webhook_url": url,
    }


def payload(body: bytes) -> Any:
    return json.loads(body)
