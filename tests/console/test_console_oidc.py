"""Sign-in at a real, independent OpenID provider: the console runs the authorization code flow
with PKCE against npm's ``oidc-provider`` (tests/oidc/provider.mjs, on a loopback port), the hub
(``prod`` mode, its own process) redeems the code as a confidential client and verifies the ID
token with the keys the provider's JWKS URL serves; Chromium drives the whole of it.

Nothing here is the hub's: the provider issues, signs and rotates its own keys. A rotation (the
provider restarted with a new key only) is followed by the running hub; a wrong ``state``, a
code used twice, a token issued to another client and a token signed by a key the provider does
not publish are each refused with the message a person or a client would read.

Also: a citizen who mistypes the ID number's check character is told so at sign-in (dev IdP)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from catalogue.identifiers import resident_id_check_char
from tests.console.conftest import Tab
from tests.oidc import OpenIdProvider, ec_jwk, openid_provider, require_node
from tests.servers import free_port, hub_environment, serving

pytestmark = pytest.mark.serves

CLIENT_ID = "tongban-console"
CLIENT_SECRET = secrets.token_urlsafe(32)
OTHER_CLIENT = "another-application"
AUDITOR = "AUD-0007"
ADMIN = "MCA-ADMIN-01"
START = "前往统一身份认证平台登录"
SIGNED_IN = "退出登录"


@dataclass
class World:
    hub: str
    provider: OpenIdProvider
    other_redirect: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_node()
    workdir: Path = tmp_path_factory.mktemp("oidc")
    hub_port, provider_port, other_port = free_port(), free_port(), free_port()
    hub = f"http://127.0.0.1:{hub_port}"
    other_redirect = f"http://127.0.0.1:{other_port}/callback"
    code_client = {
        "response_types": ["code"],
        "grant_types": ["authorization_code"],
        "id_token_signed_response_alg": "ES256",
    }
    clients = [
        {
            **code_client,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_endpoint_auth_method": "client_secret_basic",
            "redirect_uris": [f"{hub}/console"],
        },
        {
            **code_client,
            "client_id": OTHER_CLIENT,
            "token_endpoint_auth_method": "none",
            "redirect_uris": [other_redirect],
        },
    ]
    accounts = {
        AUDITOR: {"role": "auditor"},
        ADMIN: {"role": "department_admin", "department": "MCA"},
    }
    with openid_provider(
        workdir, provider_port, clients=clients, accounts=accounts, jwks={"keys": [ec_jwk("k1")]}
    ) as provider:
        env = hub_environment(
            TONGBAN_MODE="prod",
            TONGBAN_SECRET_KEY=secrets.token_urlsafe(32),
            TONGBAN_IDP_ISSUER=provider.issuer,
            TONGBAN_IDP_CLIENT_ID=CLIENT_ID,
            TONGBAN_IDP_CLIENT_SECRET=CLIENT_SECRET,
            TONGBAN_IDP_JWKS_REFETCH_INTERVAL_S="1",
        )
        (workdir / "hub").mkdir()
        with serving(workdir / "hub", env, port=hub_port) as base:
            assert base == hub
            yield World(hub, provider, other_redirect)


@dataclass
class Browser:
    """A page whose network is the hub and the provider only, with what it asked of them."""

    page: Any
    authorizations: list[dict[str, list[str]]]
    exchanges: list[dict[str, Any]]
    errors: list[str]


def _open(browser: Any, world: World, *, tamper_state: bool = False) -> Browser:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    authorizations: list[dict[str, list[str]]] = []
    exchanges: list[dict[str, Any]] = []
    errors: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(f"{world.provider.issuer}/auth?"):
            query = parse_qs(urlsplit(url).query)
            authorizations.append(query)
            if tamper_state:  # the answer comes back with a state this tab never made
                query["state"] = ["x" * 43]
                forged = f"{world.provider.issuer}/auth?{urlencode(query, doseq=True)}"
                request_route.continue_(url=forged)
                return
            request_route.fallback()
        elif url.startswith((world.hub + "/", world.provider.issuer + "/")):
            request_route.fallback()
        else:  # the provider's own login page asks for web fonts; the console asks nothing
            if request_route.request.frame.url.startswith(world.hub):
                errors.append(f"the console reached outside: {url}")
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda error: errors.append(str(error)))

    def seen(request: Any) -> None:
        if request.url == f"{world.hub}/sign-in/token":
            exchanges.append(json.loads(request.post_data or "{}"))

    page.on("request", seen)
    return Browser(page, authorizations, exchanges, errors)


def _sign_in(opened: Browser, world: World, account: str) -> None:
    """From the console's sign-in page through the provider's login form and back."""
    page = opened.page
    page.goto(f"{world.hub}/console")
    page.get_by_role("button", name=START).click()
    page.locator("input[name=login]").fill(account)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()


def _token(opened: Browser) -> str:
    token: str = opened.page.evaluate("sessionStorage.getItem('tongban.id_token')")
    return token


def _get(world: World, path: str, token: str) -> httpx.Response:
    return httpx.get(f"{world.hub}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_the_hub_names_the_provider_it_discovered(world: World) -> None:
    answer = httpx.get(f"{world.hub}/sign-in/provider", timeout=10).json()
    assert answer == {
        "issuer": world.provider.issuer,
        "authorization_endpoint": f"{world.provider.issuer}/auth",
        "client_id": CLIENT_ID,
        "scope": "openid",
        "redirect_uri": f"{world.hub}/console",
    }


def test_a_person_signs_in_with_code_and_pkce_and_lands_in_their_role(
    browser: Any, world: World
) -> None:
    opened = _open(browser, world)
    _sign_in(opened, world, ADMIN)
    page = opened.page
    page.get_by_role("button", name=SIGNED_IN).wait_for()
    assert page.locator("header .identity").inner_text() == "部门管理员 · MCA"
    (asked,) = opened.authorizations
    assert asked["response_type"] == ["code"]
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["client_id"] == [CLIENT_ID]
    assert asked["redirect_uri"] == [f"{world.hub}/console"]
    assert "code_verifier" not in asked
    (exchange,) = opened.exchanges
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(exchange["code_verifier"].encode()).digest()
    ).rstrip(b"=")
    assert asked["code_challenge"] == [challenge.decode()]  # the verifier went to the hub only
    assert "code=" not in page.evaluate("location.href")
    token = _token(opened)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["role"]) == (
        world.provider.issuer,
        CLIENT_ID,
        "department_admin",
    )
    assert claims["nonce"] == asked["nonce"][0]
    mine = _get(world, "/agreements?role=provider", token)
    assert mine.status_code == 200, mine.text  # the hub takes the provider's token
    assert opened.errors == []
    page.context.close()


def test_an_answer_with_another_state_signs_nobody_in(browser: Any, world: World) -> None:
    opened = _open(browser, world, tamper_state=True)
    _sign_in(opened, world, AUDITOR)
    page = opened.page
    page.locator("main .problem").filter(has_text="不是在本浏览器中发起的").wait_for()
    assert page.get_by_role("button", name=SIGNED_IN).count() == 0
    assert opened.exchanges == []  # the code was never even sent to the hub
    page.context.close()


def test_a_code_used_twice_is_refused(browser: Any, world: World) -> None:
    opened = _open(browser, world)
    _sign_in(opened, world, AUDITOR)
    page = opened.page
    page.get_by_role("button", name=SIGNED_IN).wait_for()
    (exchange,) = opened.exchanges
    replayed = httpx.post(f"{world.hub}/sign-in/token", json=exchange, timeout=10)
    assert replayed.status_code == 401
    assert replayed.json()["detail"] == (
        "the identity provider refused the authorization code (invalid_grant)"
    )
    # The same answer replayed into a browser holding that very sign-in: refused in Chinese.
    (asked,) = opened.authorizations
    again = _open(browser, world)
    again.page.goto(f"{world.hub}/console")
    pending = {
        "state": asked["state"][0],
        "nonce": exchange["nonce"],
        "verifier": exchange["code_verifier"],
        "issuer": world.provider.issuer,
        "started": int(time.time() * 1000),
    }
    again.page.evaluate(
        "p => sessionStorage.setItem('tongban.signin.pending', JSON.stringify(p))", pending
    )
    answer = urlencode({"code": exchange["code"], "state": asked["state"][0]})
    again.page.goto(f"{world.hub}/console/audit#{answer}")
    again.page.locator("main .problem").filter(has_text="授权码无效、已使用或已过期").wait_for()
    assert again.page.get_by_role("button", name=SIGNED_IN).count() == 0
    page.context.close()
    again.page.context.close()


def _other_clients_token(browser: Any, world: World) -> str:
    """An ID token the provider issued to another application (its own code flow)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = {
        "response_type": "code",
        "client_id": OTHER_CLIENT,
        "redirect_uri": world.other_redirect,
        "scope": "openid",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    context = browser.new_context()
    landed: list[str] = []

    def callback(request_route: Any) -> None:
        landed.append(request_route.request.url)
        request_route.fulfill(status=200, body="ok")

    context.route(f"{world.other_redirect}**", callback)
    page = context.new_page()
    page.goto(f"{world.provider.issuer}/auth?{urlencode(query)}")
    page.locator("input[name=login]").fill(AUDITOR)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{world.other_redirect}**")
    context.close()
    (url,) = landed
    code = parse_qs(urlsplit(url).query)["code"][0]
    answer = httpx.post(
        f"{world.provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": world.other_redirect,
            "client_id": OTHER_CLIENT,
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["id_token"]
    return token


def test_a_token_the_provider_issued_to_another_application_is_refused(
    browser: Any, world: World
) -> None:
    token = _other_clients_token(browser, world)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == OTHER_CLIENT
    refused = _get(world, "/audit/entries", token)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the token was issued for another audience"
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(world: World) -> None:
    rogue = ec_jwk("k1-rogue")
    now = int(time.time())
    claims = {
        "iss": world.provider.issuer,
        "aud": CLIENT_ID,
        "sub": AUDITOR,
        "role": "auditor",
        "iat": now,
        "exp": now + 600,
    }
    key = jwt.PyJWK(rogue).key
    expected = {  # an unknown key id, and the provider's key id on a foreign key
        "k1-rogue": "the token's signing key is not among the provider's keys",
        "k1": "the token's signature does not verify",
    }
    for kid, detail in expected.items():
        token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})
        refused = _get(world, "/audit/entries", token)
        assert refused.status_code == 401
        assert refused.json()["detail"] == detail


def test_a_key_rotation_at_the_provider_is_followed_without_restarting_the_hub(
    browser: Any, world: World
) -> None:
    before = _open(browser, world)
    _sign_in(before, world, AUDITOR)
    before.page.get_by_role("button", name=SIGNED_IN).wait_for()
    old = _token(before)
    assert _get(world, "/audit/entries", old).status_code == 200
    before.page.context.close()

    world.provider.restart({"keys": [ec_jwk("k2")]})  # k1 withdrawn, k2 signs
    time.sleep(1.1)  # the hub's TONGBAN_IDP_JWKS_REFETCH_INTERVAL_S

    after = _open(browser, world)
    _sign_in(after, world, AUDITOR)
    after.page.get_by_role("button", name=SIGNED_IN).wait_for()
    new = _token(after)
    assert jwt.get_unverified_header(new)["kid"] == "k2"
    assert _get(world, "/audit/entries", new).status_code == 200
    withdrawn = _get(world, "/audit/entries", old)
    assert withdrawn.status_code == 401
    assert withdrawn.json()["detail"] == "the token's signing key is not among the provider's keys"
    # The console, still holding a token of the withdrawn key, signs out and says why.
    page = after.page
    page.evaluate("t => sessionStorage.setItem('tongban.id_token', t)", old)
    page.goto(f"{world.hub}/console/audit")
    page.locator("main .problem").filter(has_text="登录已失效").wait_for()
    assert page.get_by_role("button", name=START).is_visible()
    assert after.errors == []
    page.context.close()


# -- the dev IdP: a citizen's ID number is checked at sign-in -----------------------------


def _mistyped(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("0" if last != "0" else "1")


def test_a_citizen_who_mistypes_the_check_digit_is_told_so_before_signing_in(tab: Tab) -> None:
    number = tab.hub.queried[0]
    wrong = _mistyped(number)
    posted: list[str] = []
    tab.page.on("request", lambda r: posted.append(r.url) if "/dev/idp/token" in r.url else None)
    tab.open()
    page = tab.page
    page.get_by_label("身份").select_option("citizen")
    page.get_by_label("账号").fill(wrong)
    page.get_by_role("button", name="登录").click()
    alert = page.locator("form .problem")
    alert.wait_for()
    assert alert.inner_text() == "公民身份号码的校验位（最后一位）不正确，请核对后重新输入。"
    assert page.get_by_label("账号").get_attribute("aria-invalid") == "true"
    assert posted == []  # nothing was sent, nobody signed in
    assert page.get_by_role("button", name="退出登录").count() == 0
    # A right check character on a number no division issues: the dev IdP refuses it.
    nowhere = "999999" + number[6:17]
    page.get_by_label("账号").fill(nowhere + resident_id_check_char(nowhere))
    page.get_by_role("button", name="登录").click()
    alert.filter(has_text="行政区划代码或出生日期不正确").wait_for()
    assert page.get_by_role("button", name="退出登录").count() == 0
    page.get_by_label("账号").fill(number)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("button", name="退出登录").wait_for()


def test_the_dev_idp_refuses_a_resident_id_with_a_wrong_check_digit(tab: Tab) -> None:
    number = tab.hub.queried[0]
    answer = httpx.post(
        f"{tab.hub.base}/dev/idp/token",
        json={"sub": _mistyped(number), "role": "citizen"},
        timeout=10,
    )
    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert error["pointer"] == "/sub"
    assert "checksum" in error["detail"]
    # The hub's dev IdP still signs in non-residents (the hub refuses them later, by design).
    assert httpx.post(
        f"{tab.hub.base}/dev/idp/token", json={"sub": "alice", "role": "citizen"}, timeout=10
    ).is_success


def test_when_the_token_expires_the_console_asks_to_sign_in_again(tab: Tab) -> None:
    tab.page.clock.install()  # the page's own clock, so the hour can pass at once
    tab.sign_in("auditor", "AUD-001")
    tab.page.clock.fast_forward("01:01:00")  # the dev IdP's tokens last an hour
    notice = tab.page.locator("main .problem")
    notice.wait_for()
    assert notice.inner_text() == "登录已过期，请重新登录"
    assert tab.page.get_by_role("button", name="退出登录").count() == 0
    assert tab.page.evaluate("sessionStorage.getItem('tongban.id_token')") is None
