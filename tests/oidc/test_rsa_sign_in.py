"""Sign-in at a real OpenID provider that signs ID tokens with RSA: npm's ``oidc-provider``
(tests/oidc/provider.mjs) with an RSA key of 2048 bits, signing RS256 as most identity providers
do (Keycloak's default, Entra ID, many government platforms), and a prod hub in its own process
that finds the provider's keys through its discovery document and JWKS URL.

The sign-in is the hub's whole part of the code flow: the test plays the console and the person
(authorisation request with PKCE, the provider's login form, the code in the redirect's fragment),
the hub redeems the code, verifies the provider's ID token and takes it as a bearer token. The
provider also publishes a 1024-bit RSA key (for PS256, which it would not sign with either); a
token of that key, an algorithm the provider does not name, and an HMAC "signature" keyed with
the provider's public RSA key are each refused, saying why."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tests.oidc import OpenIdProvider, ec_jwk, openid_provider, require_node, rsa_jwk
from tests.servers import free_port, hub_environment, serving

pytestmark = pytest.mark.serves

CLIENT_ID = "tongban-console"
CLIENT_SECRET = secrets.token_urlsafe(32)
AUDITOR = "AUD-0007"


@dataclass
class World:
    hub: str
    provider: OpenIdProvider
    weak: dict[str, Any]  # the private JWK of the provider's 1024-bit key


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_node()
    workdir: Path = tmp_path_factory.mktemp("oidc-rsa")
    hub_port, provider_port = free_port(), free_port()
    hub = f"http://127.0.0.1:{hub_port}"
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": [f"{hub}/console"],
        "response_types": ["code"],
        "grant_types": ["authorization_code"],
        "id_token_signed_response_alg": "RS256",
    }
    strong = rsa_jwk("rsa-2048")  # no "alg": it may sign RS256 and PS256 alike
    weak = rsa_jwk("rsa-1024", bits=1024, alg="PS256")  # never picked for the RS256 ID tokens
    with openid_provider(
        workdir,
        provider_port,
        clients=[client],
        accounts={AUDITOR: {"role": "auditor"}},
        jwks={"keys": [strong, weak]},
        id_token_algorithms=("RS256", "PS256"),
    ) as provider:
        env = hub_environment(
            TONGBAN_MODE="prod",
            TONGBAN_SECRET_KEY=secrets.token_urlsafe(32),
            TONGBAN_IDP_ISSUER=provider.issuer,
            TONGBAN_IDP_CLIENT_ID=CLIENT_ID,
            TONGBAN_IDP_CLIENT_SECRET=CLIENT_SECRET,
        )
        (workdir / "hub").mkdir()
        with serving(workdir / "hub", env, port=hub_port) as base:
            assert base == hub
            yield World(hub, provider, weak)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _follow(browser: httpx.Client, answer: httpx.Response, until: str) -> httpx.Response | str:
    """Follow the provider's redirects: the page they end on, or the URL starting ``until``."""
    while answer.is_redirect:
        location = urljoin(str(answer.url), answer.headers["location"])
        if location.startswith(until):
            return location
        answer = browser.get(location)
    return answer


def _sign_in(world: World, account: str) -> httpx.Response:
    """What the console and the person do: the hub's answer to ``POST /sign-in/token``."""
    provider = httpx.get(f"{world.hub}/sign-in/provider", timeout=10).json()
    verifier, state, nonce = (secrets.token_urlsafe(48) for _ in range(3))
    query = {
        "response_type": "code",
        "response_mode": "fragment",
        "client_id": provider["client_id"],
        "redirect_uri": provider["redirect_uri"],
        "scope": provider["scope"],
        "state": state,
        "nonce": nonce,
        "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }
    back = provider["redirect_uri"] + "#"
    with httpx.Client(timeout=10) as browser:
        asked = browser.get(f"{provider['authorization_endpoint']}?{urlencode(query)}")
        login = _follow(browser, asked, back)
        assert isinstance(login, httpx.Response), login
        action = re.search(r'<form[^>]* action="([^"]+)"', login.text)
        assert action is not None, login.text
        form = {"prompt": "login", "login": account, "password": "any password"}
        landed = _follow(browser, browser.post(urljoin(str(login.url), action[1]), data=form), back)
    assert isinstance(landed, str), landed.text
    answer = parse_qs(urlsplit(landed).fragment)
    assert answer["state"] == [state]
    redeem = {"code": answer["code"][0], "code_verifier": verifier, "nonce": nonce}
    return httpx.post(f"{world.hub}/sign-in/token", json=redeem, timeout=10)


def _claims(world: World) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": world.provider.issuer,
        "aud": CLIENT_ID,
        "sub": AUDITOR,
        "role": "auditor",
        "iat": now,
        "exp": now + 600,
    }


def _refusal(world: World, token: str) -> str:
    answer = httpx.get(
        f"{world.hub}/audit/entries", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "invalid_token"
    detail: str = answer.json()["detail"]
    return detail


def test_a_person_signs_in_with_an_rs256_id_token_of_the_provider(world: World) -> None:
    discovery = httpx.get(
        f"{world.provider.issuer}/.well-known/openid-configuration", timeout=10
    ).json()
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]
    answer = _sign_in(world, AUDITOR)
    assert answer.status_code == 200, answer.text
    token = answer.json()["id_token"]
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("RS256", "rsa-2048")  # the provider's own doing
    entries = httpx.get(
        f"{world.hub}/audit/entries", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert entries.status_code == 200, entries.text  # the hub takes it as a bearer token


def test_a_token_of_the_providers_1024_bit_rsa_key_is_refused(world: World) -> None:
    published = httpx.get(f"{world.provider.issuer}/jwks", timeout=10).json()
    (weak,) = [key for key in published["keys"] if key["kid"] == "rsa-1024"]
    public = jwt.PyJWK(weak).key
    assert isinstance(public, RSAPublicKey)
    assert public.key_size == 1024  # the provider publishes it as it is
    private = jwt.PyJWK(world.weak).key  # oidc-provider would not sign with it; the test does
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = jwt.encode(_claims(world), private, algorithm="PS256", headers={"kid": "rsa-1024"})
    assert _refusal(world, token) == (
        "the token's signing key is an RSA key of 1024 bits; "
        "the hub accepts RSA keys of 2048 bits or more"
    )


def test_an_hmac_token_keyed_with_the_providers_rsa_public_key_is_refused(world: World) -> None:
    published = httpx.get(f"{world.provider.issuer}/jwks", timeout=10).json()
    (strong,) = [key for key in published["keys"] if key["kid"] == "rsa-2048"]
    public = jwt.PyJWK(strong).key
    assert isinstance(public, RSAPublicKey)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-2048"}).encode())
    payload = _b64(json.dumps(_claims(world)).encode())
    signature = _b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert _refusal(world, f"{header}.{payload}.{signature}") == (
        "the token's algorithm (HS256) is not one the hub accepts from its issuer"
    )


def test_an_algorithm_the_provider_does_not_name_is_refused(world: World) -> None:
    discovery = httpx.get(
        f"{world.provider.issuer}/.well-known/openid-configuration", timeout=10
    ).json()
    assert "ES256" not in discovery["id_token_signing_alg_values_supported"]
    key = jwt.PyJWK(ec_jwk("ec-1")).key  # the hub takes ES256, this provider does not sign it
    token = jwt.encode(_claims(world), key, algorithm="ES256", headers={"kid": "ec-1"})
    assert _refusal(world, token) == (
        "the token's algorithm (ES256) is not one the hub accepts from its issuer"
    )
