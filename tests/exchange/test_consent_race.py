"""A revocation racing queries, over real HTTP (uvicorn) on SQLite and PostgreSQL.

Several threads query a consent-gated attribute without pause while the citizen revokes the
consent. What must hold: no query that started after the revocation answered releases the
attribute; every release has its use recorded before the revocation (the consent's row lock
orders them, so event ids follow commit order); and uses and releases match one for one — a
release that the hub decided before the revocation but committed after it would break the
second rule.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange.app import create_app
from exchange.consent.models import ConsentEvent
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.security.identity import Role
from exchange.settings import Settings
from tests import factories
from tests.exchange.world import MCA, showcase_people
from tests.servers import free_port

PENSION = "social_insurance.pension_amount"
QUERY_THREADS = 4
ROUNDS = 3


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=120, seed=3)


@dataclass
class Served:
    base: str
    app: Any
    sessions: sessionmaker[Session]
    key: dict[str, Any]

    def system_headers(self) -> dict[str, str]:
        assertion = factories.client_assertion(self.key, MCA, f"{self.base}/oauth/token")
        response = httpx.post(
            f"{self.base}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
        )
        assert response.status_code == 200, response.text
        return {"authorization": f"Bearer {response.json()['access_token']}"}

    def citizen_headers(self, subject: str) -> dict[str, str]:
        token = self.app.state.hub.identity.issue_dev_token(subject, Role.CITIZEN, None)
        return {"authorization": f"Bearer {token}"}


@pytest.fixture
def served(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Served]:
    data_dir = live_demo_world
    key = json.loads((data_dir / "keys" / f"{MCA}.jwk").read_text("utf-8"))
    port = free_port()
    app = create_app(
        Settings(
            database_url=database_url,
            mode="dev",
            adapters_file=city.adapters_file,
            public_url=f"http://127.0.0.1:{port}",
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", workers=1)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Served(f"http://127.0.0.1:{port}", app, sessions, key)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@dataclass(frozen=True)
class Answer:
    started: float
    finished: float
    status: int
    body: dict[str, Any]


def _give_standing_consent(served: Served, subject: str) -> str:
    asked = httpx.post(
        f"{served.base}/consent-requests",
        headers=served.system_headers(),
        json=factories.consent_request(
            subject, traits=("standing", "pension_only"), retention_days=30
        ),
    )
    assert asked.status_code == 201, asked.text
    approved = httpx.post(
        f"{served.base}/citizen/consent-requests/{asked.json()['id']}/approve",
        headers=served.citizen_headers(subject),
    )
    assert approved.status_code == 201, approved.text
    consent_id: str = approved.json()["consent"]["id"]
    return consent_id


def _race(served: Served, subject: str, consent_id: str) -> tuple[list[Answer], float, float]:
    headers = served.system_headers()
    body = {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": "minimum-living-allowance",
        "attributes": [PENSION],
        "consent_id": consent_id,
    }
    answers: list[Answer] = []
    lock = threading.Lock()
    stop = threading.Event()

    def keep_asking() -> None:
        with httpx.Client(base_url=served.base, headers=headers, timeout=30) as client:
            while not stop.is_set():
                started = time.monotonic()
                response = client.post("/exchange/query", json=body)
                finished = time.monotonic()
                with lock:  # checked after the join: a thread's failed assert would be lost
                    answers.append(Answer(started, finished, response.status_code, response.json()))

    threads = [threading.Thread(target=keep_asking) for _ in range(QUERY_THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(0.4)
    revoke_sent = time.monotonic()
    revoked = httpx.delete(
        f"{served.base}/citizen/consents/{consent_id}", headers=served.citizen_headers(subject)
    )
    revoke_done = time.monotonic()
    assert revoked.status_code == 200, revoked.text
    time.sleep(0.4)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return answers, revoke_sent, revoke_done


def test_no_release_after_a_revocation_commits(served: Served, city: LegacyWorld) -> None:
    subject = showcase_people(city)["consent_candidate"]
    for _ in range(ROUNDS):
        consent_id = _give_standing_consent(served, subject)
        answers, _, revoke_done = _race(served, subject, consent_id)

        assert [a.body for a in answers if a.status != 200] == []
        released = [a for a in answers if PENSION in a.body["attributes"]]
        refused = [a for a in answers if a.body["denied"].get(PENSION) == "consent_revoked"]
        assert released, "no query got in before the revocation: the race did not happen"
        assert refused, "no query came after the revocation: the race did not happen"
        assert len(released) + len(refused) == len(answers)
        late = [a for a in released if a.started > revoke_done]
        assert late == [], "a query that started after the revocation answered released data"

        with unit_of_work(served.sessions) as session:
            events = session.scalars(
                select(ConsentEvent)
                .where(ConsentEvent.consent_id == consent_id)
                .order_by(ConsentEvent.id)
            ).all()
        revocation = next(e for e in events if e.event == "revoked")
        uses = [e for e in events if e.event == "used"]
        assert all(e.id < revocation.id for e in uses), "a use was recorded after the revocation"
        assert sorted(e.detail["request_id"] for e in uses) == sorted(
            a.body["request_id"] for a in released
        )
