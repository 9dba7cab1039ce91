"""Login CSRF: the console takes only a sign-in this browser started.

The review's finding: ``/console#id_token=<JWT>`` signed anyone in, so an attacker could send a
victim a link carrying the attacker's own token and the victim would work (approve consents,
answer applications) inside the attacker's account. The console now makes a random ``state`` and
``nonce`` before asking an identity provider, keeps them in sessionStorage, and takes a token
only when it comes back with that ``state`` and carries that ``nonce``; anything else leaves it
signed out with a message in both languages. Headless Debian Chromium (never a downloaded
browser) against a served demo hub in ``dev`` mode, plus the development IdP's ``nonce``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers import DemoHub

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOKEN_KEY = "tongban.id_token"
PENDING_KEY = "tongban.signin.pending"
REFUSED_ZH = "此登录不是在本浏览器中发起的"
REFUSED_EN = "This sign-in was not started in this browser"


def _mint(demo: DemoHub, sub: str, role: str, nonce: str | None = None) -> str:
    body: dict[str, Any] = {"sub": sub, "role": role}
    if role == "department_admin":
        body["department"] = "PSB"
    if nonce is not None:
        body["nonce"] = nonce
    response = httpx.post(f"{demo.base}/dev/idp/token", json=body, timeout=10)
    assert response.status_code == 200, response.text
    token: str = response.json()["id_token"]
    return token


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


@pytest.fixture
def page(browser: Any, demo: DemoHub) -> Iterator[Any]:
    """A fresh browser context (its own sessionStorage), only the hub's origin reachable."""
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    outside: list[str] = []
    errors: list[str] = []

    def only_the_hub(route: Any) -> None:
        if route.request.url.startswith(demo.base + "/"):
            route.fallback()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_hub)
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert outside == [], outside
    assert errors == [], errors


def _signed_out_with_the_refusal(page: Any) -> None:
    page.locator("main .problem", has_text=REFUSED_ZH).wait_for()  # shown, not only announced
    assert page.get_by_role("button", name="登录", exact=True).is_visible()  # the sign-in form
    assert page.get_by_role("button", name="退出登录").count() == 0
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None
    assert "id_token" not in page.evaluate("location.href")  # gone from the address bar


def test_a_link_with_someone_elses_token_leaves_the_console_signed_out(
    page: Any, demo: DemoHub
) -> None:
    attacker = _mint(demo, "attacker-officer", "department_admin")
    page.goto(f"{demo.base}/console#id_token={attacker}")
    _signed_out_with_the_refusal(page)
    page.get_by_role("button", name="English").click()
    page.locator("main .problem", has_text=REFUSED_EN).wait_for()


def test_a_token_with_a_nonce_and_state_of_a_sign_in_started_elsewhere_is_refused(
    page: Any, demo: DemoHub
) -> None:
    """The attacker starts a sign-in in their own browser and forwards what comes back."""
    token = _mint(demo, "attacker-officer", "department_admin", nonce="attackers-nonce-0123456789")
    page.goto(f"{demo.base}/console#id_token={token}&state=attackers-state-0123456789")
    _signed_out_with_the_refusal(page)


def test_a_sign_in_started_here_but_answered_with_another_nonce_is_refused(
    page: Any, demo: DemoHub
) -> None:
    page.goto(f"{demo.base}/console")
    page.get_by_role("button", name="登录").wait_for()
    page.evaluate(
        """([key, state, nonce]) =>
             sessionStorage.setItem(key, JSON.stringify({state, nonce, started: Date.now()}))""",
        [PENDING_KEY, "s" * 43, "n" * 43],
    )
    token = _mint(demo, "attacker-officer", "department_admin", nonce="m" * 43)
    page.goto(f"{demo.base}/console/catalogue#id_token={token}&state={'s' * 43}")
    _signed_out_with_the_refusal(page)
    assert page.evaluate(f"sessionStorage.getItem('{PENDING_KEY}')") is None  # used up


def test_the_return_of_a_sign_in_started_here_signs_in_once(page: Any, demo: DemoHub) -> None:
    page.goto(f"{demo.base}/console")
    page.get_by_role("button", name="登录").wait_for()
    pending = page.evaluate(
        """key => {
             const state = "state-" + crypto.randomUUID();
             const nonce = "nonce-" + crypto.randomUUID();
             sessionStorage.setItem(key, JSON.stringify({state, nonce, started: Date.now()}));
             return {state, nonce};
           }""",
        PENDING_KEY,
    )
    token = _mint(demo, "AUD-007", "auditor", nonce=pending["nonce"])
    page.goto(f"{demo.base}/console/signin#id_token={token}&state={pending['state']}")
    page.get_by_role("button", name="退出登录").wait_for()
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == token
    assert "id_token" not in page.evaluate("location.href")

    # The same answer again (a replayed link) is no sign-in: the pending one is used up.
    page.get_by_role("button", name="退出登录").click()
    page.goto(f"{demo.base}/console/catalogue#id_token={token}&state={pending['state']}")
    _signed_out_with_the_refusal(page)


def test_signing_in_through_the_form_still_works_and_binds_a_nonce(
    page: Any, demo: DemoHub
) -> None:
    page.goto(f"{demo.base}/console")
    page.get_by_label("身份").select_option("auditor")
    page.get_by_label("账号").fill("AUD-001")
    page.get_by_role("button", name="登录").click()
    page.get_by_role("button", name="退出登录").wait_for()
    token = page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')")
    claims = _claims(token)
    assert claims["sub"] == "AUD-001"
    assert len(claims["nonce"]) >= 43  # 32 random bytes, base64url
    assert page.evaluate(f"sessionStorage.getItem('{PENDING_KEY}')") is None
    assert page.locator("main .problem").count() == 0


def test_the_development_idp_puts_the_nonce_into_the_token(demo: DemoHub) -> None:
    nonce = "a-nonce-of-the-console-0123456789"
    assert _claims(_mint(demo, "AUD-001", "auditor", nonce=nonce))["nonce"] == nonce
    assert "nonce" not in _claims(_mint(demo, "AUD-001", "auditor"))
    short = httpx.post(
        f"{demo.base}/dev/idp/token",
        json={"sub": "AUD-001", "role": "auditor", "nonce": "short"},
        timeout=10,
    )
    assert short.status_code == 422
    assert [e["pointer"] for e in short.json()["errors"]] == ["/nonce"]
