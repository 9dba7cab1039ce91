"""Staff ID tokens: each forgery or misuse is refused with 401 invalid_token."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from exchange.app import create_app
from exchange.security.identity import AUDIENCE, DEV_IDP_ISSUER, Role
from exchange.settings import Settings
from tests.exchange.conftest import assert_documented


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": DEV_IDP_ISSUER,
        "aud": AUDIENCE,
        "sub": "officer-9",
        "role": "department_admin",
        "department": "PSB",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


def _put(client: TestClient, token: str) -> int:
    response = client.post(
        "/catalogue/resources/PSB-HJ-0001/deprecate",
        json={"reason": "test"},
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code == 401:
        assert response.json()["code"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith("Bearer")
    return response.status_code


@pytest.fixture
def forge(client: TestClient) -> Callable[..., str]:
    identity = client.app.state.hub.identity  # type: ignore[attr-defined]

    def sign(
        claims: dict[str, object], key: object = None, alg: str = "EdDSA", kid: str | None = None
    ) -> str:
        signing_key = key if key is not None else identity._dev_key
        return jwt.encode(
            claims, signing_key, algorithm=alg, headers={"kid": kid or identity.dev_kid}
        )  # type: ignore[arg-type]

    return sign


@pytest.mark.usefixtures("demo_catalogue")
class TestTokenAttacks:
    def test_a_good_token_works(self, client: TestClient, forge: Callable[..., str]) -> None:
        assert _put(client, forge(_claims())) == 200

    def test_alg_none(self, client: TestClient) -> None:
        header = _b64(json.dumps({"alg": "none", "kid": "x"}).encode())
        payload = _b64(json.dumps(_claims()).encode())
        assert _put(client, f"{header}.{payload}.") == 401

    def test_hs256_keyed_with_the_public_key(
        self, client: TestClient, forge: Callable[..., str]
    ) -> None:
        identity = client.app.state.hub.identity  # type: ignore[attr-defined]
        public = identity.dev_public_jwk["x"].encode()
        header = _b64(json.dumps({"alg": "HS256", "kid": identity.dev_kid}).encode())
        payload = _b64(json.dumps(_claims()).encode())
        import hashlib
        import hmac

        signature = _b64(hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        assert _put(client, f"{header}.{payload}.{signature}") == 401

    def test_expired(self, client: TestClient, forge: Callable[..., str]) -> None:
        past = int(time.time()) - 7200
        assert _put(client, forge(_claims(iat=past, exp=past + 600))) == 401

    def test_wrong_audience_or_issuer(self, client: TestClient, forge: Callable[..., str]) -> None:
        assert _put(client, forge(_claims(aud="someone-else"))) == 401
        assert _put(client, forge(_claims(iss="https://evil.example"))) == 401

    def test_unknown_kid(self, client: TestClient, forge: Callable[..., str]) -> None:
        assert _put(client, forge(_claims(), kid="other")) == 401

    def test_signed_by_another_key(self, client: TestClient, forge: Callable[..., str]) -> None:
        assert _put(client, forge(_claims(), key=Ed25519PrivateKey.generate())) == 401

    def test_tampered_payload(self, client: TestClient, forge: Callable[..., str]) -> None:
        header, _, signature = forge(_claims()).split(".")
        payload = _b64(json.dumps(_claims(department="MCA")).encode())
        assert _put(client, f"{header}.{payload}.{signature}") == 401

    def test_missing_claims_and_unknown_role(
        self, client: TestClient, forge: Callable[..., str]
    ) -> None:
        claims = _claims()
        del claims["exp"]
        assert _put(client, forge(claims)) == 401
        assert _put(client, forge(_claims(role="superuser"))) == 401

    def test_oversized(self, client: TestClient, forge: Callable[..., str]) -> None:
        assert _put(client, forge(_claims(padding="x" * 10000))) == 401


def test_the_dev_idp_issues_tokens_in_dev_mode(client: TestClient) -> None:
    response = client.post("/dev/idp/token", json={"sub": "officer-1", "role": "auditor"})
    assert response.status_code == 200
    token = response.json()["id_token"]
    assert client.app.state.hub.identity.verify(token).role is Role.AUDITOR  # type: ignore[attr-defined]
    response = client.post("/dev/idp/token", json={"sub": "officer-1", "role": "department_admin"})
    assert response.status_code == 422


def test_the_dev_idps_refusals_are_in_its_openapi_document(client: TestClient) -> None:
    json_type = {"content-type": "application/json"}
    refusals = [
        (client.post("/dev/idp/token", json={"sub": "officer-1", "role": "department_admin"}), 422),
        (client.post("/dev/idp/token", json={"sub": "x", "role": "nobody"}), 422),
        (client.post("/dev/idp/token", content=b'{"sub": "\xff"}', headers=json_type), 422),
    ]
    for response, status in refusals:
        assert response.status_code == status, response.text
        assert response.json()["code"] == "malformed_request"
        assert_documented(client, "POST", "/dev/idp/token", response)


def test_the_dev_idp_does_not_exist_in_prod(settings: Settings) -> None:
    prod = settings.model_copy(update={"mode": "prod"})
    with TestClient(create_app(prod)) as client:
        response = client.post("/dev/idp/token", json={"sub": "x", "role": "operator"})
    assert response.status_code == 404


def test_access_log_lines_lose_their_query_strings() -> None:
    """An auditor's search by ID number must not land in the server's access log."""
    import logging

    from exchange.logs import install_log_redaction

    install_log_redaction()
    install_log_redaction()  # idempotent
    logger = logging.getLogger("uvicorn.access")
    assert len([f for f in logger.filters if type(f).__name__ == "_WithoutQuery"]) == 1
    record = logger.makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/audit/entries?subject=11010519491231002X", "1.1", 200),
        None,
    )
    for handler_filter in logger.filters:
        handler_filter.filter(record)
    line = record.getMessage()
    assert "11010519491231002X" not in line
    assert "/audit/entries?…" in line
