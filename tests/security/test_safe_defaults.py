"""Hole 2 (high): a hub started with no settings is safe, and dev mode is asked for, loud and
its own. Hole 5 (medium): the hub's identity is its configured URL, never the Host header.

Each test starts real ``tongban`` processes as an operator (or an attacker) would."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from exchange.security.identity import IdentityProviders, Role
from exchange.settings import PUBLISHED_SECRETS, Settings
from tests import factories
from tests.servers import TONGBAN, DemoHub, dev_environment, free_port, hub_environment, serving

PUBLIC_URL = "https://tongban.example.gov.cn"


def _tongban(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TONGBAN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _prod_env(**more: str) -> dict[str, str]:
    settings = {
        "TONGBAN_MODE": "prod",
        "TONGBAN_SECRET_KEY": secrets.token_urlsafe(32),
        "TONGBAN_PUBLIC_URL": PUBLIC_URL,
        **more,
    }
    return hub_environment(**settings)


@pytest.fixture(scope="module")
def prod_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("prod-hub")
    env = _prod_env()
    with serving(workdir, {**env, "TONGBAN_PUBLIC_URL": PUBLIC_URL}) as base:
        yield base


def _forged_staff_token(secret: str, role: Role = Role.AUDITOR) -> str:
    """What an attacker signs offline with a secret they know."""
    settings = Settings(mode="dev", secret_key=secret, database_url="sqlite://")  # type: ignore[arg-type]
    return IdentityProviders(settings).issue_dev_token("attacker", role, None)


def test_serve_with_no_settings_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    result = _tongban(tmp_path, "serve", "--port", str(free_port()), env=hub_environment())
    assert result.returncode == 1
    assert result.stderr.startswith("tongban: ")
    assert "TONGBAN_SECRET_KEY" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "var").exists()  # nothing created, no database, no secret


@pytest.mark.parametrize("weak", ["a" * 32, "abcd" * 8, *PUBLISHED_SECRETS])
def test_prod_refuses_a_weak_or_published_secret(tmp_path: Path, weak: str) -> None:
    env = _prod_env(TONGBAN_SECRET_KEY=weak)
    result = _tongban(tmp_path, "serve", "--port", str(free_port()), env=env)
    assert result.returncode == 1
    assert "TONGBAN_SECRET_KEY" in result.stderr
    assert weak not in result.stderr


def test_prod_refuses_to_start_without_its_public_url(tmp_path: Path) -> None:
    env = {k: v for k, v in _prod_env().items() if k != "TONGBAN_PUBLIC_URL"}
    result = _tongban(tmp_path, "serve", "--port", str(free_port()), env=env)
    assert result.returncode == 1
    assert "TONGBAN_PUBLIC_URL" in result.stderr


def test_prod_mounts_no_development_idp(prod_hub: str) -> None:
    minted = httpx.post(
        f"{prod_hub}/dev/idp/token", json={"sub": "x", "role": "auditor"}, timeout=10
    )
    assert minted.status_code == 404


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.OPERATOR])
def test_tokens_forged_with_the_once_published_secret_are_refused(
    prod_hub: str, demo: DemoHub, role: Role
) -> None:
    (published,) = PUBLISHED_SECRETS
    token = _forged_staff_token(published, role)
    for base in (prod_hub, demo.base):
        answer = httpx.get(
            f"{base}/audit/entries", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert answer.status_code == 401, base
        assert answer.json()["code"] == "invalid_token"


def test_a_dev_installation_has_its_own_secret_kept_0600(demo: DemoHub, tmp_path: Path) -> None:
    secret_file = demo.workdir / "var/secret.key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.parent.stat().st_mode) & 0o077 == 0
    with serving(tmp_path, dev_environment()) as other:
        minted = httpx.post(
            f"{other}/dev/idp/token", json={"sub": "a-1", "role": "auditor"}, timeout=10
        )
        token = minted.json()["id_token"]
        # the other installation's token means nothing to this one
        refused = httpx.get(
            f"{demo.base}/audit/entries", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert refused.status_code == 401
    assert (tmp_path / "var/secret.key").read_bytes() != secret_file.read_bytes()


def test_dev_mode_is_announced_loudly_at_start_up(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [TONGBAN, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=dev_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    assert "DEVELOPMENT MODE" in stderr
    assert "/dev/idp/token" in stderr


# -- hole 5: the hub's identity ----------------------------------------------------------------


def _assertion_for(demo: DemoHub, audience: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": factories.client_assertion(demo.key(), "edu-enrolment", audience),
    }


def test_an_assertion_signed_for_another_server_is_refused_whatever_the_host(
    demo: DemoHub,
) -> None:
    other = "http://other-hub.example"
    answer = httpx.post(
        f"{demo.base}/oauth/token",
        data=_assertion_for(demo, f"{other}/oauth/token"),
        headers={"Host": "other-hub.example"},
        timeout=10,
    )
    assert answer.status_code in {400, 401}
    assert "access_token" not in answer.json()
    accepted = httpx.post(
        f"{demo.base}/oauth/token", data=_assertion_for(demo, f"{demo.base}/oauth/token")
    )
    assert accepted.status_code == 200


def test_links_and_the_token_issuer_ignore_the_host_header(demo: DemoHub) -> None:
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    home = httpx.get(f"{demo.base}/", headers=forged, timeout=10).json()
    assert all(link.startswith(demo.base) for link in home["links"].values())
    turtle = httpx.get(
        f"{demo.base}/catalogue/dcat", headers={**forged, "Accept": "text/turtle"}, timeout=10
    ).text
    assert "evil.example" not in turtle
    token = demo.system_token()
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == demo.base
    query = httpx.post(
        f"{demo.base}/exchange/query",
        json={
            "subject": {"id_type": "CN-RIC", "id": demo.subject("has_property")},
            "purpose": "school-enrolment",
            "attributes": ["household.name"],
        },
        headers={**forged, "Authorization": f"Bearer {token}"},
        timeout=20,
    )
    assert query.status_code == 200, query.text
    evidence = jwt.decode(query.json()["evidence"], options={"verify_signature": False})
    assert evidence["iss"] == demo.base
    assert "evil.example" not in json.dumps(query.json())


def test_the_environment_of_these_tests_does_not_leak_into_the_hubs() -> None:
    """The served hubs above get their settings from the test, not from this process."""
    assert all(not k.startswith("TONGBAN_MODE") for k in hub_environment())
    assert os.environ.get("TONGBAN_PUBLIC_URL") != PUBLIC_URL


def test_the_demo_records_that_its_directory_is_a_dev_installation(
    demo: DemoHub, tmp_path: Path
) -> None:
    config = demo.workdir / "tongban.toml"
    assert 'mode = "dev"' in config.read_text("utf-8")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    inside = _tongban(demo.workdir, "audit", "verify", "--json", env=hub_environment())
    assert inside.returncode == 0, inside.stderr
    outside = _tongban(tmp_path, "audit", "verify", "--json", env=hub_environment())
    assert outside.returncode == 1
    assert "TONGBAN_SECRET_KEY" in outside.stderr
