"""Standards a real client trips over: what an integrator's stock OAuth and HTTP tooling reads.

- token endpoint refusals carry RFC 6749 5.2 ``error`` / ``error_description`` besides the
  problem, so Authlib raises ``OAuthError`` instead of taking a problem for a token;
- a request without credentials gets a bare ``Bearer`` challenge, a refused token
  ``Bearer error="invalid_token"`` (RFC 6750 3.1);
- RFC 8414 metadata names the configured public URL as issuer, whatever the ``Host`` header;
- a client assertion may name the issuer as its audience (draft-ietf-oauth-rfc7523bis);
- a 405 says which methods the path accepts (RFC 9110 15.5.6);
- the OpenAPI document says how each operation authenticates;
- time parameters take RFC 3339 date-times only, not numbers read as Unix time;
- demo-made and API-made consent receipts name one issuer.

The Authlib tests run its real client against a real served demo hub (``demo`` fixture).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange.api.consent import ChangeBody
from exchange.app import create_app
from exchange.consent.models import Consent
from exchange.db import unit_of_work
from exchange.demo.build import build_demo
from exchange.hub import Hub
from exchange.security.clientauth import CLIENT_ASSERTION_TYPE
from exchange.security.identity import Role
from exchange.settings import Settings
from tests import factories
from tests.profiles import GM, only_under
from tests.servers import DemoHub

SYSTEM = "edu-enrolment"
OTHER_SYSTEM = "mca-dibao"
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code", "request_id"}


@pytest.fixture
def keys(demo_world: Path) -> dict[str, Any]:
    """The demo world in the test's database; each case system's private JWK, by id."""
    return {
        path.stem: json.loads(path.read_text("utf-8"))
        for path in (demo_world / "keys").glob("*.jwk")
    }


def _issuer(client: TestClient) -> str:
    public_url: str = client.app.state.hub.settings.public_url  # type: ignore[attr-defined]
    return public_url


def _token_request(client: TestClient, **fields: str) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        **fields,
    }
    return client.post("/oauth/token", data={k: v for k, v in form.items() if v != "-"})


def _assertion(keys: dict[str, Any], client: TestClient, **claims: Any) -> str:
    audience = claims.pop("aud", f"{_issuer(client)}/oauth/token")
    return factories.client_assertion(keys[SYSTEM], SYSTEM, audience, **claims)


# -- RFC 6749 5.2: the token endpoint's errors ----------------------------------------------


def test_a_refused_assertion_is_an_oauth_invalid_client_error_and_a_problem(
    client: TestClient, keys: dict[str, Any]
) -> None:
    signed_by_another = factories.client_assertion(
        keys[OTHER_SYSTEM], SYSTEM, f"{_issuer(client)}/oauth/token"
    )
    response = _token_request(client, client_assertion=signed_by_another)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "private_key_jwt"
    body = response.json()
    assert set(body) >= PROBLEM_MEMBERS
    assert body["code"] == body["error"] == "invalid_client"
    assert body["error_description"] == body["detail"]
    assert "access_token" not in body


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"grant_type": "password", "client_assertion": "x"}, 400, "unsupported_grant_type"),
        ({"grant_type": "-", "client_assertion": "x"}, 400, "invalid_request"),
        ({"client_assertion_type": "urn:other", "client_assertion": "x"}, 400, "invalid_request"),
        ({"client_assertion": "-"}, 400, "invalid_request"),
        ({"client_assertion": "not-a-jwt"}, 401, "invalid_client"),
    ],
)
def test_each_token_request_refusal_names_its_rfc6749_error(
    client: TestClient, fields: dict[str, str], status: int, error: str
) -> None:
    response = _token_request(client, **fields)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert set(body) >= PROBLEM_MEMBERS


def test_framework_refusals_on_the_token_endpoint_are_oauth_errors_too(
    client: TestClient,
) -> None:
    as_json = client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 415
    assert as_json.json()["error"] == "invalid_request"
    too_large = client.post(
        "/oauth/token",
        content=b"a" * (client.app.state.hub.settings.max_body_bytes + 1),  # type: ignore[attr-defined]
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert too_large.status_code == 413
    assert too_large.json()["error"] == "invalid_request"
    wrong_method = client.get("/oauth/token")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "invalid_request"


def test_behind_a_proxy_prefix_the_token_endpoint_still_answers_oauth_errors(
    settings: Settings,
) -> None:
    prefixed = settings.model_copy(update={"public_url": "http://testserver/hub"})
    app = create_app(prefixed)
    with TestClient(app, root_path="/hub", raise_server_exceptions=False) as client:
        response = client.post("/hub/oauth/token", data={"grant_type": "password"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_problems_elsewhere_carry_no_oauth_members(client: TestClient) -> None:
    body = client.post("/exchange/query", json={}).json()
    assert body["code"] == "invalid_token"
    assert "error" not in body
    assert "error_description" not in body


# -- RFC 6750 3.1: the bearer challenge -------------------------------------------------------

PROTECTED = [
    ("POST", "/exchange/query"),  # a case system's access token
    ("GET", "/agreements"),  # a staff ID token
    ("GET", "/audit/proof/inclusion?index=0&size=1"),  # either
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("authorization", [None, "Basic ZWR1OnNlY3JldA==", "Bearer "])
def test_a_request_without_bearer_credentials_gets_a_bare_challenge(
    client: TestClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization is not None else {}
    response = client.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_refused_token_gets_an_invalid_token_challenge(
    client: TestClient, method: str, path: str
) -> None:
    expired = jwt.encode({"sub": "x", "exp": 1}, "k" * 32, algorithm="HS256")
    response = client.request(method, path, headers={"authorization": f"Bearer {expired}"}, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["code"] == "invalid_token"


# -- RFC 8414 metadata and the assertion's audience -----------------------------------------


def test_the_metadata_names_the_configured_issuer_and_how_to_get_a_token(
    client: TestClient,
) -> None:
    issuer = _issuer(client)
    response = client.get(
        "/.well-known/oauth-authorization-server", headers={"host": "attacker.example"}
    )
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == issuer
    assert metadata["token_endpoint"] == f"{issuer}/oauth/token"
    assert metadata["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    taken = {"SM2SM3"} if GM else {"EdDSA", "ES256"}  # a gm hub takes SM2 keys only
    assert set(metadata["token_endpoint_auth_signing_alg_values_supported"]) == taken
    assert client.get("/.well-known/jwks.json").json()["keys"]


@pytest.mark.parametrize("audience", ["issuer", "token_endpoint", "both"])
def test_an_assertion_may_name_the_issuer_or_the_token_endpoint(
    client: TestClient, keys: dict[str, Any], audience: str
) -> None:
    issuer = _issuer(client)
    named = {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "both": [issuer, f"{issuer}/oauth/token"],
    }[audience]
    response = _token_request(client, client_assertion=_assertion(keys, client, aud=named))
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["iss"] == issuer


@pytest.mark.parametrize(
    "audience",
    [
        lambda issuer: f"{issuer}/",
        lambda issuer: f"{issuer}/audit",
        lambda issuer: "https://other-hub.example",
        lambda issuer: [issuer, "https://other-hub.example"],
        lambda issuer: [],
    ],
    ids=["trailing-slash", "other-path", "other-hub", "shared-with-another-hub", "empty-list"],
)
def test_an_audience_other_than_exactly_this_hub_is_refused(
    client: TestClient, keys: dict[str, Any], audience: Callable[[str], Any]
) -> None:
    assertion = _assertion(keys, client, aud=audience(_issuer(client)))
    response = _token_request(client, client_assertion=assertion)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "audience" in response.json()["error_description"]


# -- RFC 9110: Allow on a 405 -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/catalogue/dcat", "GET"),
        ("DELETE", "/catalogue/resources/PSB-HJ-0001", "GET, PUT"),
        ("GET", "/oauth/token", "POST"),
    ],
)
def test_a_405_names_every_method_the_path_accepts(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["code"] == "method_not_allowed"


# -- the OpenAPI document ---------------------------------------------------------------------


def test_the_openapi_document_says_how_each_operation_authenticates(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    (system,) = [n for n, s in schemes.items() if s["type"] == "oauth2"]
    assert schemes[system]["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
    (staff,) = [n for n, s in schemes.items() if s.get("scheme") == "bearer"]
    paths = document["paths"]
    assert paths["/exchange/query"]["post"]["security"] == [{system: []}]
    assert paths["/consent-requests"]["post"]["security"] == [{system: []}]
    assert paths["/catalogue/resources/{code}"]["put"]["security"] == [{staff: []}]
    assert paths["/citizen/consents"]["get"]["security"] == [{staff: []}]
    assert {"security"} & set(paths["/catalogue/resources/{code}"]["get"]) == set()
    assert paths["/readyz"]["get"]["security"] == [{staff: []}, {}]  # anyone; staff see more
    inclusion = paths["/audit/proof/inclusion"]["get"]["security"]
    assert sorted(map(str, inclusion)) == sorted(map(str, [{staff: []}, {system: []}]))


# -- RFC 3339 date-times ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1700000000", "1700000000.5", "2026-01-01", "tomorrow"])
@pytest.mark.parametrize(("path", "name"), [("/audit/entries", "from"), ("/audit/stats", "until")])
def test_a_time_parameter_takes_only_an_rfc3339_date_time(
    client: TestClient, staff_token: Callable[..., str], path: str, name: str, value: str
) -> None:
    auditor = {"authorization": f"Bearer {staff_token(Role.AUDITOR, None)}"}
    refused = client.get(path, params={name: value}, headers=auditor)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "malformed_request"
    accepted = client.get(path, params={name: "2026-11-01T08:00:00+08:00"}, headers=auditor)
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize("expires_at", ["0", "1800000000", '"1800000000"', '"2026-12-31"'])
def test_a_consent_change_takes_only_an_rfc3339_expiry(expires_at: str) -> None:
    with pytest.raises(ValidationError):
        ChangeBody.model_validate_json(f'{{"expires_at": {expires_at}}}')
    body = ChangeBody.model_validate_json('{"expires_at": "2026-12-31T23:59:59+08:00"}')
    assert body.expires_at is not None
    assert body.expires_at.utcoffset() is not None


# -- one hub, one issuer ----------------------------------------------------------------------


def test_demo_made_consent_receipts_name_the_hub_public_url_as_issuer(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path, now: datetime
) -> None:
    candidates = [
        {"kind": "consent_candidate", "id": "11010519491231002X"},
        {"kind": "consent_candidate", "id": "110105194912310038"},
    ]
    with Hub.from_settings(settings) as hub, unit_of_work(sessions, write=True) as session:
        build_demo(session, tmp_path / "demo", subjects=candidates, now=now, hub=hub)
    with unit_of_work(sessions) as session:
        receipts = session.scalars(select(Consent.receipt)).all()
    assert receipts
    for receipt in receipts:
        claims = jwt.decode(receipt, options={"verify_signature": False})
        assert claims["iss"] == settings.public_url


# -- Authlib, a stock OAuth client, against a served hub --------------------------------------


def _authlib_client(demo: DemoHub, method: PrivateKeyJWT, *, key_of: str = SYSTEM) -> Any:
    return OAuth2Client(
        SYSTEM,
        client_secret=OKPKey.import_key(demo.key(key_of)),
        token_endpoint_auth_method=method,
        timeout=10,
    )


def _token_endpoint(demo: DemoHub) -> str:
    metadata = httpx.get(f"{demo.base}/.well-known/oauth-authorization-server", timeout=10)
    token_endpoint: str = metadata.json()["token_endpoint"]
    return token_endpoint


@only_under("intl", "authlib signs no SM2SM3, and a gm hub takes SM2 client keys only")
def test_authlib_gets_an_access_token_from_the_discovered_token_endpoint(demo: DemoHub) -> None:
    token_endpoint = _token_endpoint(demo)
    # The documented one-line change from Authlib's defaults: the algorithm of the system's key.
    with _authlib_client(demo, PrivateKeyJWT(token_endpoint, alg="EdDSA")) as oauth:
        token = oauth.fetch_token(token_endpoint, grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 300
    assert token["expires_at"] > time.time()
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["sub"] == SYSTEM
    assert f"{claims['iss']}/oauth/token" == token_endpoint
    answer = httpx.post(
        f"{demo.base}/exchange/query",
        json={
            "subject": {"id_type": "CN-RIC", "id": demo.subject("school_age_with_property")},
            "purpose": "school-enrolment",
            "attributes": ["household.registered_address"],
        },
        headers={"authorization": f"Bearer {token['access_token']}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


@only_under("intl", "authlib signs no SM2SM3, and a gm hub takes SM2 client keys only")
def test_authlib_reads_an_assertion_signed_with_the_wrong_key_as_invalid_client(
    demo: DemoHub,
) -> None:
    method = PrivateKeyJWT(alg="EdDSA")
    oauth = _authlib_client(demo, method, key_of=OTHER_SYSTEM)
    with oauth, pytest.raises(OAuthError) as refused:
        oauth.fetch_token(_token_endpoint(demo), grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    assert "signature" in str(refused.value.description)


@only_under("intl", "authlib signs no SM2SM3, and a gm hub takes SM2 client keys only")
def test_an_authlib_assertion_replayed_later_is_refused_despite_its_hour_long_exp(
    demo: DemoHub,
) -> None:
    """Authlib writes exp an hour ahead; the hub still holds the assertion to 5 minutes from
    its iat, and to one use."""
    token_endpoint = _token_endpoint(demo)
    key = OKPKey.import_key(demo.key(SYSTEM))
    signed = private_key_jwt_sign(key, SYSTEM, token_endpoint, alg="EdDSA")
    old = private_key_jwt_sign(
        key, SYSTEM, token_endpoint, alg="EdDSA", issued_at=int(time.time()) - 400
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    first = httpx.post(token_endpoint, data={**form, "client_assertion": signed}, timeout=10)
    assert first.status_code == 200, first.text
    replay = httpx.post(token_endpoint, data={**form, "client_assertion": signed}, timeout=10)
    assert replay.json()["error"] == "invalid_client"
    stale = httpx.post(token_endpoint, data={**form, "client_assertion": old}, timeout=10)
    assert stale.json()["error"] == "invalid_client"
    assert "more than 5 minutes ago" in stale.json()["error_description"]


def test_the_served_metadata_names_the_url_it_is_fetched_from_as_issuer(
    demo: DemoHub,
) -> None:
    """RFC 8414 3.3: the issuer in the metadata is the URL the client started from."""
    metadata = httpx.get(f"{demo.base}/.well-known/oauth-authorization-server", timeout=10)
    assert metadata.json()["issuer"] == demo.base
