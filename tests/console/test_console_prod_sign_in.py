"""A prod hub's console signs people in at the organisation's identity provider (OpenID Connect
implicit flow, ID token in the fragment) and takes only the answer to a sign-in it started.

The IdP here is the test's: the browser's request to its authorisation endpoint is answered by
the test, which signs an ID token with its own Ed25519 key (the hub trusts it through
``TONGBAN_IDP_ISSUER`` and ``TONGBAN_IDP_JWKS_FILE``, as a deployment trusts its IdP) and
redirects back to the console, the way a real IdP does. No real IdP can run here; everything
else (the hub in prod mode, Chromium, the console's code) is real."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from tests.servers import hub_environment, serving

ISSUER = "https://idp.example.gov.cn"
AUTHORIZE = f"{ISSUER}/authorize"
CLIENT_ID = "tongban-console"
KID = "test-idp-1"


@pytest.fixture(scope="module")
def idp_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def prod_hub(tmp_path_factory: pytest.TempPathFactory, idp_key: Ed25519PrivateKey) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("prod-console")
    jwk = json.loads(OKPAlgorithm.to_jwk(idp_key.public_key()))
    jwks = workdir / "idp-jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": KID, "alg": "EdDSA"}]}), "utf-8")
    env = hub_environment(
        TONGBAN_MODE="prod",
        TONGBAN_SECRET_KEY=secrets.token_urlsafe(32),
        TONGBAN_IDP_ISSUER=ISSUER,
        TONGBAN_IDP_JWKS_FILE=str(jwks),
        TONGBAN_IDP_AUTHORIZATION_ENDPOINT=AUTHORIZE,
        TONGBAN_IDP_CLIENT_ID=CLIENT_ID,
    )
    with serving(workdir, env) as base:
        yield base


def _id_token(key: Ed25519PrivateKey, nonce: str, role: str = "auditor") -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "auditor-0007",
        "role": role,
        "iat": now,
        "exp": now + 600,
        "nonce": nonce,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": KID})


def _page(browser: Any, base: str, idp: Any) -> Any:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(base + "/"):
            request_route.fallback()
        elif url.startswith(AUTHORIZE):
            idp(request_route, parse_qs(urlsplit(url).query))
        else:
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def test_the_hub_names_its_idp_to_the_console(prod_hub: str) -> None:
    home = httpx.get(f"{prod_hub}/", timeout=10).json()
    assert home["idp"] == {"authorization_endpoint": AUTHORIZE, "client_id": CLIENT_ID}
    assert home["mode"] == "prod"


def test_a_person_signs_in_at_the_idp_and_lands_in_the_console(
    browser: Any, prod_hub: str, idp_key: Ed25519PrivateKey
) -> None:
    asked: list[dict[str, list[str]]] = []

    def idp(route: Any, query: dict[str, list[str]]) -> None:
        asked.append(query)
        token = _id_token(idp_key, query["nonce"][0])
        back = f"{query['redirect_uri'][0]}#id_token={token}&state={query['state'][0]}"
        route.fulfill(status=302, headers={"Location": back})

    page = _page(browser, prod_hub, idp)
    page.goto(f"{prod_hub}/console")
    page.get_by_role("button", name="前往统一身份认证平台登录").click()
    page.get_by_role("button", name="退出登录").wait_for()
    (query,) = asked
    assert query["response_type"] == ["id_token"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{prod_hub}/console"]
    assert len(query["state"][0]) >= 32
    assert len(query["nonce"][0]) >= 32
    assert "id_token" not in page.evaluate("location.href")
    token = page.evaluate("sessionStorage.getItem('tongban.id_token')")
    entries = httpx.get(
        f"{prod_hub}/audit/entries", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert entries.status_code == 200, entries.text  # the hub takes the IdP's token
    page.context.close()


def test_an_idp_answer_with_another_nonce_signs_nobody_in(
    browser: Any, prod_hub: str, idp_key: Ed25519PrivateKey
) -> None:
    def idp(route: Any, query: dict[str, list[str]]) -> None:
        token = _id_token(idp_key, "a-nonce-from-another-sign-in-" + "x" * 20)
        back = f"{query['redirect_uri'][0]}#id_token={token}&state={query['state'][0]}"
        route.fulfill(status=302, headers={"Location": back})

    page = _page(browser, prod_hub, idp)
    page.goto(f"{prod_hub}/console")
    page.get_by_role("button", name="前往统一身份认证平台登录").click()
    page.locator("main .problem").wait_for()
    assert page.get_by_role("button", name="退出登录").count() == 0
    page.context.close()
