"""POST /oauth/token with private_key_jwt, the JWKS, and SystemBearer on the exchange routes.

Every attack on a client assertion is its own test and must end in 401 ``invalid_client`` with
a reason that names the check that failed, without repeating the assertion's contents.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from catalogue.models import System, SystemKey
from catalogue.systems import register_system
from exchange.api.deps import SystemBearer
from exchange.app import create_app
from exchange.db import unit_of_work
from exchange.hub import Hub
from exchange.security.clientauth import CLIENT_ASSERTION_TYPE, grant_client_credentials
from exchange.security.errors import InvalidClient
from exchange.security.identity import Role
from exchange.security.keys import HubKeys
from exchange.settings import Settings
from tests import factories
from tests.exchange.conftest import DEMO_SYSTEM, assert_documented, request_token
from tests.profiles import GM, HUB_ALG, only_under, stranger, verifying_key

SYSTEM = DEMO_SYSTEM
KID = f"{SYSTEM}-1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _hub(client: TestClient) -> Hub:
    hub: Hub = client.app.state.hub  # type: ignore[attr-defined]
    return hub


@pytest.fixture
def audience(client: TestClient) -> str:
    return f"{client.base_url}/oauth/token"


@pytest.fixture
def private_jwk(demo_keys: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return demo_keys[SYSTEM]


@pytest.fixture
def assertion(private_jwk: dict[str, Any], audience: str) -> Callable[..., str]:
    """``assertion(**claim_overrides)``: a client assertion of the demo system."""

    def make(**overrides: Any) -> str:
        return factories.client_assertion(private_jwk, SYSTEM, audience, **overrides)

    return make


def _refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["code"] == "invalid_client"
    assert reason in body["detail"]
    assert "access_token" not in body
    # RFC 6749 5.2, so that a standard OAuth client reads the refusal as one
    assert body["error"] == "invalid_client"
    assert body["error_description"] == body["detail"]
    assert response.headers["www-authenticate"] == "private_key_jwt"


def _claims(audience: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": SYSTEM,
        "sub": SYSTEM,
        "aud": audience,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


# -- success -------------------------------------------------------------------------------


def _verify_with_served_jwks(client: TestClient, token: str) -> dict[str, Any]:
    jwks = client.get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(token)
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        verifying_key(jwk),
        algorithms=[jwk["alg"]],
        audience="tongban-exchange",
        issuer=str(client.base_url),
    )
    return claims


def test_an_eddsa_assertion_gets_an_access_token(
    client: TestClient, assertion: Callable[..., str]
) -> None:
    response = request_token(client, assertion())
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    claims = _verify_with_served_jwks(client, body["access_token"])
    assert claims["sub"] == SYSTEM
    assert claims["client_id"] == SYSTEM
    assert claims["department"] == "EDU"
    assert claims["purposes"] == ["school-enrolment"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]


@only_under("intl", "a gm hub takes SM2SM3 client keys only (tests/security/gm/test_client_sm2.py)")
def test_an_es256_assertion_gets_an_access_token(
    client: TestClient, sessions: sessionmaker[Session], demo_world: Path, audience: str
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.private_numbers()
    public = {
        "kty": "EC",
        "crv": "P-256",
        "kid": "p256-1",
        "x": _b64(numbers.public_numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.public_numbers.y.to_bytes(32, "big")),
    }
    private = {**public, "d": _b64(numbers.private_value.to_bytes(32, "big")), "alg": "ES256"}
    registration = {"id": "p256-system", "department": "EDU", "keys": [public]}
    with unit_of_work(sessions, write=True) as session:
        register_system(
            session, {**registration, "purposes": ["school-enrolment"]}, now=datetime.now(UTC)
        )
    signed = factories.client_assertion(private, "p256-system", audience)
    assert jwt.get_unverified_header(signed)["alg"] == "ES256"
    response = request_token(client, signed)
    assert response.status_code == 200, response.text
    assert _verify_with_served_jwks(client, response.json()["access_token"])["sub"] == (
        "p256-system"
    )


def test_without_a_kid_the_only_active_key_is_used(
    client: TestClient, private_jwk: dict[str, Any], audience: str
) -> None:
    without_kid = {k: v for k, v in private_jwk.items() if k != "kid"}
    response = request_token(client, factories.client_assertion(without_kid, SYSTEM, audience))
    assert response.status_code == 200, response.text


def test_the_jwks_is_public_and_cacheable(client: TestClient) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    (key,) = response.json()["keys"]
    point = {"x", "y"} if GM else {"x"}  # SM2's is an EC point, Ed25519's an OKP x
    assert set(key) == {"kty", "crv", "kid", "alg", "use"} | point
    assert key["alg"] == HUB_ALG
    assert client.get("/.well-known/jwks.json").json()["keys"] == [key]


def test_the_configured_public_url_is_the_only_audience(
    settings: Settings, demo_keys: dict[str, dict[str, Any]]
) -> None:
    public = settings.model_copy(update={"public_url": "https://hub.example.gov.cn/"})
    with TestClient(create_app(public), raise_server_exceptions=False) as client:
        as_requested = factories.client_assertion(
            demo_keys[SYSTEM], SYSTEM, "http://testserver/oauth/token"
        )
        _refused(request_token(client, as_requested), "audience")
        configured = factories.client_assertion(
            demo_keys[SYSTEM], SYSTEM, "https://hub.example.gov.cn/oauth/token"
        )
        response = request_token(client, configured)
        assert response.status_code == 200, response.text
        issuer = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert issuer["iss"] == "https://hub.example.gov.cn"


# -- attacks on the assertion: each 401 invalid_client ---------------------------------------


@pytest.mark.usefixtures("demo_world")
def test_alg_none(client: TestClient, audience: str) -> None:
    token = _unsigned({"alg": "none", "kid": KID}, _claims(audience)) + "."
    _refused(request_token(client, token), "algorithm is not allowed")


@pytest.mark.parametrize("key_form", ["jwk-x-text", "raw-public-bytes"])
def test_hs256_keyed_with_the_public_key(
    client: TestClient, private_jwk: dict[str, Any], audience: str, key_form: str
) -> None:
    x = private_jwk["x"]
    secret = x.encode() if key_form == "jwk-x-text" else base64.urlsafe_b64decode(x + "=")
    signing_input = _unsigned({"alg": "HS256", "kid": KID, "typ": "JWT"}, _claims(audience))
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    _refused(request_token(client, f"{signing_input}.{_b64(mac)}"), "algorithm is not allowed")


@pytest.mark.usefixtures("demo_world")
def test_rs256_is_refused(client: TestClient, audience: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(audience), key, algorithm="RS256", headers={"kid": KID})
    _refused(request_token(client, token), "algorithm is not allowed")


@pytest.mark.usefixtures("demo_world")
@only_under("intl", "gm allows one client algorithm, so none other than the registered key's")
def test_an_algorithm_other_than_the_registered_keys(client: TestClient, audience: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(_claims(audience), key, algorithm="ES256", headers={"kid": KID})
    _refused(request_token(client, token), "not the registered key's algorithm")


def test_expired(client: TestClient, assertion: Callable[..., str]) -> None:
    past = int(time.time()) - 600
    _refused(request_token(client, assertion(iat=past - 60, exp=past)), "expired")


def test_not_yet_valid_nbf(client: TestClient, assertion: Callable[..., str]) -> None:
    _refused(request_token(client, assertion(nbf=int(time.time()) + 240)), "nbf is in the future")


def test_not_yet_valid_iat(client: TestClient, assertion: Callable[..., str]) -> None:
    _refused(request_token(client, assertion(iat=int(time.time()) + 240)), "iat is in the future")


def test_exp_too_far_ahead_without_iat(client: TestClient, assertion: Callable[..., str]) -> None:
    far = int(time.time()) + 3600
    _refused(request_token(client, assertion(exp=far, iat=None)), "more than 5 minutes ahead")


def test_a_long_exp_is_held_to_five_minutes_from_iat(
    client: TestClient, assertion: Callable[..., str]
) -> None:
    now = int(time.time())
    fresh = request_token(client, assertion(iat=now, exp=now + 3600))
    assert fresh.status_code == 200, fresh.text
    stale = request_token(client, assertion(iat=now - 400, exp=now + 3200))
    _refused(stale, "signed more than 5 minutes ago")


def test_missing_exp(client: TestClient, assertion: Callable[..., str]) -> None:
    _refused(request_token(client, assertion(exp=None)), "no exp")


def test_wrong_audience(client: TestClient, assertion: Callable[..., str]) -> None:
    for audience in ("https://other-hub.example/oauth/token", "http://testserver/", ["a", "b"]):
        _refused(request_token(client, assertion(aud=audience)), "audience")


def test_iss_differs_from_sub(client: TestClient, assertion: Callable[..., str]) -> None:
    _refused(request_token(client, assertion(sub="mca-dibao")), "iss and sub")


def test_unknown_system(client: TestClient, private_jwk: dict[str, Any], audience: str) -> None:
    token = factories.client_assertion(private_jwk, "no-such-system", audience)
    _refused(request_token(client, token), "not a registered, active system")


def test_suspended_system(
    client: TestClient, sessions: sessionmaker[Session], assertion: Callable[..., str]
) -> None:
    _set_status(sessions, "suspended")
    _refused(request_token(client, assertion()), "not a registered, active system")


def test_another_systems_key(
    client: TestClient, demo_keys: dict[str, dict[str, Any]], audience: str
) -> None:
    token = factories.client_assertion(demo_keys["mca-dibao"], SYSTEM, audience)
    _refused(request_token(client, token), "kid does not name an active key")


def test_unknown_kid(client: TestClient, private_jwk: dict[str, Any], audience: str) -> None:
    token = factories.client_assertion({**private_jwk, "kid": "no-such-kid"}, SYSTEM, audience)
    _refused(request_token(client, token), "kid does not name an active key")


def test_retired_key(
    client: TestClient, sessions: sessionmaker[Session], assertion: Callable[..., str]
) -> None:
    with unit_of_work(sessions, write=True) as session:
        session.execute(
            update(SystemKey).where(SystemKey.kid == KID).values(retired_at=datetime.now(UTC))
        )
    _refused(request_token(client, assertion()), "kid does not name an active key")


def test_tampered_payload(client: TestClient, assertion: Callable[..., str], audience: str) -> None:
    header, _, signature = assertion().split(".")
    forged = _unsigned({}, _claims(audience, exp=int(time.time()) + 290)).split(".")[1]
    _refused(request_token(client, f"{header}.{forged}.{signature}"), "signature")


def test_tampered_signature(client: TestClient, assertion: Callable[..., str]) -> None:
    header, payload, signature = assertion().split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 0x01
    _refused(request_token(client, f"{header}.{payload}.{_b64(bytes(raw))}"), "signature")


def test_signed_by_an_unregistered_key(client: TestClient, audience: str, demo_world: Path) -> None:
    key, alg = stranger()
    token = jwt.encode(_claims(audience), key, algorithm=alg, headers={"kid": KID})
    _refused(request_token(client, token), "signature")


def test_replayed_jti(client: TestClient, assertion: Callable[..., str]) -> None:
    once = assertion(jti="jti-used-once")
    assert request_token(client, once).status_code == 200
    replay = request_token(client, once)
    _refused(replay, "jti was already used")
    assert "jti-used-once" not in replay.text
    fresh_assertion_same_jti = assertion(jti="jti-used-once", iat=int(time.time()) - 1)
    _refused(request_token(client, fresh_assertion_same_jti), "jti was already used")


def test_oversized_assertion(client: TestClient, assertion: Callable[..., str]) -> None:
    _refused(request_token(client, assertion(padding="x" * 9000)), "larger than 8 KiB")


def test_missing_jti(client: TestClient, assertion: Callable[..., str]) -> None:
    _refused(request_token(client, assertion(jti=None)), "jti is missing")


def test_overlong_jti(client: TestClient, assertion: Callable[..., str]) -> None:
    _refused(request_token(client, assertion(jti="j" * 201)), "longer than 200")


@pytest.mark.usefixtures("demo_world")
def test_not_a_jwt(client: TestClient) -> None:
    _refused(request_token(client, "not-a-jwt"), "not a compact JWT")


def test_client_id_of_another_system(client: TestClient, assertion: Callable[..., str]) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion(),
        "client_id": "mca-dibao",
    }
    _refused(client.post("/oauth/token", data=form), "client_id")


def test_a_refusal_never_echoes_the_assertion(
    client: TestClient, assertion: Callable[..., str]
) -> None:
    token = assertion(aud="https://marker-audience.example/oauth/token", jti="marker-jti")
    response = request_token(client, token)
    _refused(response, "audience")
    assert "marker" not in response.text
    assert token.split(".")[1] not in response.text


# -- malformed token requests: 400 / 415 ----------------------------------------------------


def _form(assertion: str, **overrides: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def _bad_request(response: httpx.Response, code: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code


def test_wrong_grant_type(client: TestClient, assertion: Callable[..., str]) -> None:
    form = _form(assertion(), grant_type="authorization_code")
    _bad_request(client.post("/oauth/token", data=form), "unsupported_grant_type")


def test_missing_grant_type(client: TestClient, assertion: Callable[..., str]) -> None:
    _bad_request(
        client.post("/oauth/token", data=_form(assertion(), grant_type=None)), "invalid_request"
    )


def test_wrong_client_assertion_type(client: TestClient, assertion: Callable[..., str]) -> None:
    form = _form(assertion(), client_assertion_type="urn:ietf:params:oauth:saml2-bearer")
    _bad_request(client.post("/oauth/token", data=form), "invalid_request")


def test_missing_client_assertion(client: TestClient) -> None:
    form = _form("", client_assertion=None)
    _bad_request(client.post("/oauth/token", data=form), "invalid_request")


def test_a_repeated_parameter(client: TestClient, assertion: Callable[..., str]) -> None:
    body = (
        "grant_type=client_credentials&grant_type=client_credentials"
        f"&client_assertion_type={CLIENT_ASSERTION_TYPE}&client_assertion={assertion()}"
    )
    response = client.post(
        "/oauth/token",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    _bad_request(response, "invalid_request")


def test_wrong_content_type(client: TestClient, assertion: Callable[..., str]) -> None:
    response = client.post("/oauth/token", json=_form(assertion()))
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_every_refusal_of_the_token_endpoint_is_in_its_openapi_document(
    client: TestClient, assertion: Callable[..., str]
) -> None:
    refusals = [
        (client.post("/oauth/token", json=_form(assertion())), 415),
        (client.post("/oauth/token", data=_form(assertion(), grant_type=None)), 400),
        (client.post("/oauth/token", data=_form("not-a-jwt")), 401),
    ]
    for response, status in refusals:
        assert response.status_code == status, response.text
        assert_documented(client, "POST", "/oauth/token", response)


def test_a_form_with_a_charset_parameter_is_accepted(
    client: TestClient, assertion: Callable[..., str]
) -> None:
    response = client.post(
        "/oauth/token",
        content=str(httpx.QueryParams(_form(assertion()))),
        headers={"content-type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert response.status_code == 200, response.text


# -- concurrency ----------------------------------------------------------------------------


def test_one_jti_replayed_from_two_threads_succeeds_once(
    sessions: sessionmaker[Session],
    settings: Settings,
    assertion: Callable[..., str],
) -> None:
    form = _form(assertion())
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        keys = HubKeys(settings)  # as two hub workers would
        barrier.wait(timeout=10)
        try:
            with unit_of_work(sessions, write=True) as session:
                grant_client_credentials(
                    session, keys, form, base_url="http://testserver", now=datetime.now(UTC)
                )
            outcomes.append("issued")
        except InvalidClient as exc:
            outcomes.append(exc.detail)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["issued", "the assertion's jti was already used"]


# -- SystemBearer ---------------------------------------------------------------------------


@pytest.fixture
def whoami(client: TestClient) -> Callable[[str | None], httpx.Response]:
    """A route guarded by SystemBearer, added to the app for these tests."""

    def route(system: SystemBearer) -> dict[str, Any]:
        return {
            "system_id": system.system_id,
            "department": system.department,
            "purposes": list(system.purposes),
        }

    client.app.add_api_route("/test/whoami", route, methods=["GET"])  # type: ignore[attr-defined]

    def call(token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return client.get("/test/whoami", headers=headers)

    return call


def _unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


def _set_status(sessions: sessionmaker[Session], status: str) -> None:
    with unit_of_work(sessions, write=True) as session:
        session.execute(update(System).where(System.id == SYSTEM).values(status=status))


def test_system_bearer_resolves_the_system(
    whoami: Callable[[str | None], httpx.Response], system_token: str
) -> None:
    response = whoami(system_token)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "system_id": SYSTEM,
        "department": "EDU",
        "purposes": ["school-enrolment"],
    }


def test_system_bearer_refuses_a_missing_token(
    whoami: Callable[[str | None], httpx.Response],
) -> None:
    _unauthenticated(whoami(None))
    _unauthenticated(whoami(""))


def test_system_bearer_refuses_a_forged_token(
    client: TestClient, whoami: Callable[[str | None], httpx.Response], system_token: str
) -> None:
    header = jwt.get_unverified_header(system_token)
    claims = jwt.decode(system_token, options={"verify_signature": False})
    forger, alg = stranger()
    forged = jwt.encode(claims, forger, algorithm=alg, headers=header)
    _unauthenticated(whoami(forged))
    head, _, signature = system_token.split(".")
    other = _b64(json.dumps({**claims, "sub": "mca-dibao"}).encode())
    _unauthenticated(whoami(f"{head}.{other}.{signature}"))


def test_system_bearer_refuses_an_expired_token(
    client: TestClient, whoami: Callable[[str | None], httpx.Response], system_token: str
) -> None:
    claims = jwt.decode(system_token, options={"verify_signature": False})
    past = int(time.time()) - 3600
    hub = _hub(client)
    with unit_of_work(hub.sessions, write=True) as session:
        expired = hub.keys.sign(session, {**claims, "iat": past - 300, "exp": past}, typ="at+jwt")
    _unauthenticated(whoami(expired))


def test_system_bearer_refuses_a_dev_idp_id_token(
    whoami: Callable[[str | None], httpx.Response],
    system_token: str,
    staff_token: Callable[..., str],
) -> None:
    _unauthenticated(whoami(staff_token(Role.OPERATOR, None)))


def test_system_bearer_refuses_a_hub_token_of_another_type(
    client: TestClient, whoami: Callable[[str | None], httpx.Response], system_token: str
) -> None:
    claims = jwt.decode(system_token, options={"verify_signature": False})
    hub = _hub(client)
    with unit_of_work(hub.sessions, write=True) as session:
        evidence = hub.keys.sign(session, claims, typ="tongban-evidence+jwt")
        other_audience = hub.keys.sign(session, {**claims, "aud": "tongban-hub"}, typ="at+jwt")
    _unauthenticated(whoami(evidence))
    _unauthenticated(whoami(other_audience))


def test_system_bearer_refuses_a_suspended_systems_token(
    sessions: sessionmaker[Session],
    whoami: Callable[[str | None], httpx.Response],
    system_token: str,
) -> None:
    assert whoami(system_token).status_code == 200
    _set_status(sessions, "suspended")
    _unauthenticated(whoami(system_token))
    _set_status(sessions, "active")
    assert whoami(system_token).status_code == 200


def test_rotation_keeps_tokens_of_the_previous_key_valid(
    client: TestClient, whoami: Callable[[str | None], httpx.Response], system_token: str
) -> None:
    hub = _hub(client)
    before = jwt.get_unverified_header(system_token)["kid"]
    with unit_of_work(hub.sessions, write=True) as session:
        rotated = hub.keys.rotate(session, HUB_ALG if GM else "ES256", datetime.now(UTC))
    jwks = client.get("/.well-known/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [rotated.kid, before]
    assert whoami(system_token).status_code == 200
    assert _verify_with_served_jwks(client, system_token)["sub"] == SYSTEM

    with unit_of_work(hub.sessions, write=True) as session:
        hub.keys.rotate(session, HUB_ALG, datetime.now(UTC) + timedelta(seconds=1))
    assert before not in [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]]
    _unauthenticated(whoami(system_token))
