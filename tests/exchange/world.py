"""A hub over the demo world for end-to-end tests: the app, its database, the demo case
systems' tokens, and one showcase subject per kind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange.app import create_app
from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld
from exchange.security.identity import Role
from exchange.settings import Settings
from tests import factories
from tests.exchange.conftest import request_token

EDU = "edu-enrolment"
MCA = "mca-dibao"


def showcase_people(city: LegacyWorld) -> dict[str, str]:
    """One showcase subject's ID number per kind."""
    found: dict[str, str] = {}
    for subject in city.subjects:
        found.setdefault(subject.kind, subject.id_number)
    return found


class Hub:
    """A hub app over the demo world, and tokens for its case systems."""

    def __init__(self, client: TestClient, data_dir: Path, sessions: sessionmaker[Session]):
        self.client = client
        self.data_dir = data_dir
        self.sessions = sessions

    def token(self, system: str = EDU) -> str:
        key = json.loads((self.data_dir / "keys" / f"{system}.jwk").read_text("utf-8"))
        audience = f"{self.client.base_url}/oauth/token"
        response = request_token(self.client, factories.client_assertion(key, system, audience))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def query(self, body: dict[str, Any], system: str = EDU) -> Any:
        headers = {"authorization": f"Bearer {self.token(system)}"}
        return self.client.post("/exchange/query", json=body, headers=headers)

    def verify(self, body: dict[str, Any], system: str = EDU) -> Any:
        headers = {"authorization": f"Bearer {self.token(system)}"}
        return self.client.post("/exchange/verify", json=body, headers=headers)

    def audit(self) -> list[AuditRecord]:
        with unit_of_work(self.sessions) as session:
            return list(session.scalars(select(AuditRecord).order_by(AuditRecord.index)))


class Person:
    """A signed-in citizen, staff member, auditor or data authority (a dev-IdP ID token), acting
    through the API of a :class:`Hub`."""

    def __init__(self, hub: Hub, sub: str, role: Role, department: str | None = None) -> None:
        identity = hub.client.app.state.hub.identity  # type: ignore[attr-defined]
        token = identity.issue_dev_token(sub, role, department)
        self.hub, self.headers = hub, {"authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.hub.client.get(path, headers=self.headers, params=params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.hub.client.post(path, json=body, headers=self.headers)


def hub_over(
    database_url: str, sessions: sessionmaker[Session], data_dir: Path, adapters_file: Path
) -> Iterator[Hub]:
    """A hub app over the demo world that the test's database holds (``live_demo_world``, whose
    data directory is ``data_dir``), its sources in ``adapters_file``."""
    settings = Settings(database_url=database_url, mode="dev", adapters_file=adapters_file)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Hub(client, data_dir, sessions)
