"""Case systems with SM2 keys (``"crv": "SM2"``, assertions ``SM2SM3``): registered with their
point checked on the curve, accepted by a gm hub (tests/security/gm/test_gm_hub_http.py drives
that over HTTP), refused by an intl hub before any key is touched."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from catalogue.errors import InvalidSystem
from catalogue.models import SystemKey
from catalogue.systems import register_system
from exchange.db import unit_of_work
from exchange.security.clientauth import ALGORITHMS, GM_ALGORITHMS, client_algorithms
from exchange.security.gm import SoftwareSm2Signer
from exchange.security.keys import HubKeys
from exchange.settings import Settings
from tests.exchange.conftest import request_token
from tests.profiles import only_under

SYSTEM = "sm2-system"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sm2_assertion(signer: SoftwareSm2Signer, system: str, audience: str, kid: str) -> str:
    """A client assertion signed SM2SM3, assembled by hand (header.payload, raw r ‖ s)."""
    now = int(time.time())
    header = {"alg": "SM2SM3", "typ": "JWT", "kid": kid}
    claims = {"iss": system, "sub": system, "aud": audience, "iat": now, "exp": now + 120,
              "jti": uuid.uuid4().hex}  # fmt: skip
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(signer.sign(signing_input.encode()))}"


def _register(sessions: sessionmaker[Session], jwk: dict[str, Any]) -> None:
    registration = {"id": SYSTEM, "department": "EDU", "keys": [jwk],
                    "purposes": ["school-enrolment"]}  # fmt: skip
    with unit_of_work(sessions, write=True) as session:
        register_system(session, registration, now=datetime.now(UTC))


@pytest.mark.usefixtures("demo_world")
def test_an_sm2_key_registers_with_alg_sm2sm3(sessions: sessionmaker[Session]) -> None:
    signer = SoftwareSm2Signer.generate()
    _register(sessions, {**signer.public_key.to_jwk(), "kid": "sm2-1"})
    with unit_of_work(sessions) as session:
        key = session.query(SystemKey).filter_by(system_id=SYSTEM).one()
    assert key.alg == "SM2SM3"
    assert key.jwk["crv"] == "SM2"


@pytest.mark.usefixtures("demo_world")
def test_an_sm2_key_off_the_curve_or_with_private_members_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    jwk = {**SoftwareSm2Signer.generate().public_key.to_jwk(), "kid": "sm2-1"}
    y = bytearray(base64.urlsafe_b64decode(jwk["y"] + "="))
    y[-1] ^= 1
    with pytest.raises(InvalidSystem, match="not a valid public key"):
        _register(sessions, {**jwk, "y": _b64(bytes(y))})
    with pytest.raises(InvalidSystem, match="does not match its curve"):
        _register(sessions, {**jwk, "alg": "ES256"})
    with pytest.raises(InvalidSystem):
        _register(sessions, {**jwk, "d": _b64(b"\x01" * 32)})


@only_under("intl", "an intl hub over the suite's database, which under gm is a gm hub's")
def test_an_intl_hub_refuses_an_sm2sm3_assertion_before_reading_keys(
    client: TestClient, sessions: sessionmaker[Session], demo_world: Path
) -> None:
    signer = SoftwareSm2Signer.generate()
    _register(sessions, {**signer.public_key.to_jwk(), "kid": "sm2-1"})
    audience = f"{client.base_url}/oauth/token"
    response = request_token(client, sm2_assertion(signer, SYSTEM, audience, "sm2-1"))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_client"
    assert "sign with EdDSA or ES256" in response.json()["detail"]


def test_the_profile_decides_which_assertion_algorithms_are_accepted(settings: Settings) -> None:
    intl = settings.model_copy(update={"crypto_profile": "intl"})  # whatever the suite's
    assert client_algorithms(HubKeys(intl)) == ALGORITHMS == {"EdDSA", "ES256"}
    gm = settings.model_copy(update={"crypto_profile": "gm"})
    assert client_algorithms(HubKeys(gm)) == GM_ALGORITHMS == {"SM2SM3"}
