"""A gm hub takes SM2 client keys only: registering an Ed25519 or P-256 key is refused with a
precise reason and nothing stored, and an assertion signed with one (a key registered before,
written to the database by hand) is refused at the token endpoint; an SM2 key and its SM2SM3
assertion are accepted. The demo under gm gives its case systems SM2 keys."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from catalogue.errors import InvalidSystem
from catalogue.models import System, SystemKey
from catalogue.systems import register_system
from exchange.app import create_app
from exchange.client.sdk import _signing_key
from exchange.db import unit_of_work
from exchange.demo.build import _system_key
from exchange.security.clientauth import client_algorithms_of
from exchange.security.gm import Sm2PublicKey, SoftwareSm2Signer
from exchange.settings import Settings
from tests.exchange.conftest import request_token
from tests.security.gm.test_client_sm2 import sm2_assertion

SYSTEM = "gm-only-system"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _ed25519() -> tuple[Ed25519PrivateKey, dict[str, Any]]:
    key = Ed25519PrivateKey.generate()
    jwk = {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1"}
    return key, {**jwk, "x": _b64(key.public_key().public_bytes_raw())}


def _p256() -> dict[str, Any]:
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
    return {"kty": "EC", "crv": "P-256", "kid": "p256-1", "x": _b64(x), "y": _b64(y)}


def _register(
    sessions: sessionmaker[Session], jwk: dict[str, Any], algorithms: frozenset[str] | None
) -> None:
    registration = {"id": SYSTEM, "department": "EDU", "keys": [jwk],
                    "purposes": ["school-enrolment"]}  # fmt: skip
    with unit_of_work(sessions, write=True) as session:
        register_system(session, registration, now=datetime.now(UTC), algorithms=algorithms)


@pytest.mark.usefixtures("demo_catalogue")
@pytest.mark.parametrize("curve", ["Ed25519", "P-256"])
def test_a_gm_hub_refuses_to_register_an_intl_key_and_stores_nothing(
    sessions: sessionmaker[Session], curve: str
) -> None:
    jwk = _ed25519()[1] if curve == "Ed25519" else _p256()
    with pytest.raises(InvalidSystem) as refused:
        _register(sessions, jwk, client_algorithms_of("gm"))
    problem = refused.value
    assert problem.code == "invalid_system"
    assert str(problem) == "this hub's crypto profile registers SM2SM3 keys only"
    (detail,) = problem.errors or []
    assert detail["pointer"] == "/keys/0/crv"
    assert curve in detail["detail"]
    assert "SM2SM3" in detail["detail"]
    with unit_of_work(sessions) as session:
        assert session.get(System, SYSTEM) is None
        assert session.query(SystemKey).filter_by(system_id=SYSTEM).count() == 0
    _register(sessions, jwk, client_algorithms_of("intl"))  # an intl hub takes it


@pytest.fixture
def gm_client(settings: Settings, demo_catalogue: None) -> Iterator[TestClient]:
    gm = settings.model_copy(update={"crypto_profile": "gm"})
    with TestClient(create_app(gm), raise_server_exceptions=False) as client:
        yield client


def _ed25519_assertion(key: Ed25519PrivateKey, audience: str) -> str:
    now = int(time.time())
    claims = {"iss": SYSTEM, "sub": SYSTEM, "aud": audience, "iat": now, "exp": now + 60,
              "jti": uuid.uuid4().hex}  # fmt: skip
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "ed-1"})


def test_a_gm_hub_refuses_an_ed25519_assertion_and_accepts_an_sm2_one(
    gm_client: TestClient, sessions: sessionmaker[Session]
) -> None:
    audience = f"{gm_client.base_url}/oauth/token"
    key, jwk = _ed25519()
    _register(sessions, jwk, None)  # registered before the hub took SM2 keys only
    refused = request_token(gm_client, _ed25519_assertion(key, audience))
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert (body["code"], body["error"]) == ("invalid_client", "invalid_client")
    assert body["detail"] == "the assertion's algorithm is not allowed; sign with SM2SM3"
    signer = SoftwareSm2Signer.generate()
    _register(sessions, {**signer.public_key.to_jwk(), "kid": "sm2-1"}, client_algorithms_of("gm"))
    accepted = request_token(gm_client, sm2_assertion(signer, SYSTEM, audience, "sm2-1"))
    assert accepted.status_code == 200, accepted.text
    header = jwt.get_unverified_header(accepted.json()["access_token"])
    assert header["alg"] == "SM2SM3"


def test_the_demo_under_gm_makes_sm2_keys_and_the_sdk_signs_with_them(tmp_path: Path) -> None:
    public = _system_key(tmp_path / "edu.jwk", "edu", "gm")
    private = json.loads((tmp_path / "edu.jwk").read_text("utf-8"))
    assert (public["kty"], public["crv"], public["alg"]) == ("EC", "SM2", "SM2SM3")
    assert "d" not in public
    assert "d" in private
    alg, signer, kid = _signing_key(private)
    assert (alg, kid) == ("SM2SM3", "edu-1")
    token = signer.compact_jws({"iss": "edu"}, {"kid": kid})  # the SDK signs SM2 itself
    signing_input, _, signature = token.rpartition(".")
    Sm2PublicKey.from_jwk(public).verify(
        base64.urlsafe_b64decode(signature + "=="), signing_input.encode()
    )
    assert _system_key(tmp_path / "intl.jwk", "intl")["crv"] == "Ed25519"
