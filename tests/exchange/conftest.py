"""Fixtures for acting as the demo's case systems: their private keys and hub access tokens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from exchange.security.clientauth import CLIENT_ASSERTION_TYPE
from tests import factories

DEMO_SYSTEM = "edu-enrolment"


@pytest.fixture
def demo_keys(demo_world: Path) -> dict[str, dict[str, Any]]:
    """Each demo case system's private JWK, by system id."""
    return {
        path.stem: json.loads(path.read_text("utf-8"))
        for path in sorted((demo_world / "keys").glob("*.jwk"))
    }


def request_token(client: TestClient, assertion: str) -> httpx.Response:
    """POST a client assertion to the token endpoint; the raw response."""
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


@pytest.fixture
def system_token(client: TestClient, demo_keys: dict[str, dict[str, Any]]) -> str:
    """A hub access token for the demo case system ``edu-enrolment`` (school enrolment)."""
    audience = f"{client.base_url}/oauth/token"
    assertion = factories.client_assertion(demo_keys[DEMO_SYSTEM], DEMO_SYSTEM, audience)
    response = request_token(client, assertion)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def assert_documented(client: TestClient, method: str, path: str, response: httpx.Response) -> None:
    """``response`` (to ``method`` on the route ``path``) has a status and media type that the
    hub's OpenAPI document lists for that operation."""
    operation = client.get("/openapi.json").json()["paths"][path][method.lower()]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {path} does not document {response.status_code}"
    media_type = response.headers["content-type"].split(";")[0].strip()
    assert media_type in documented.get("content", {}), (
        f"{method} {path} does not document {media_type} for {response.status_code}"
    )
