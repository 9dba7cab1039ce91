"""The demo's pension system on a ``gm`` hub (docs/gm.md, case systems): it reads from the hub's
metadata that the token endpoint takes ``SM2SM3`` only, makes an SM2 key, registers it, gets a
token with an SM2-signed assertion, subscribes, and receives a death registration over its
webhook, all against a served ``gm`` demo hub; the assertion it signs verifies with the OpenSSL
command line."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange.demo import pension
from tests.security.gm.test_interop import DISTID, _openssl, _run
from tests.servers import TONGBAN, DemoHub, demo_hub, dev_environment, free_port

pytestmark = pytest.mark.serves

GM_ENV = {"TONGBAN_CRYPTO_PROFILE": "gm"}


@pytest.fixture(scope="module")
def gm_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoHub]:
    with demo_hub(tmp_path_factory.mktemp("gm-pension"), **GM_ENV) as served:
        yield served


def _tongban(workdir: Path, *args: str, timeout: float = 90) -> str:
    done = subprocess.run(
        [TONGBAN, *args],
        cwd=workdir,
        env=dev_environment(**GM_ENV),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _events(workdir: Path, at_least: int, within: float) -> list[dict[str, Any]]:
    out = _tongban(
        workdir,
        "demo-receiver",
        "events",
        "--at-least",
        str(at_least),
        "--within",
        str(within),
        "--json",
        timeout=within + 30,
    )
    found: list[dict[str, Any]] = json.loads(out)
    return found


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_gm_hubs_metadata_names_sm2sm3_only(gm_hub: DemoHub) -> None:
    metadata = httpx.get(f"{gm_hub.base}/.well-known/oauth-authorization-server", timeout=10)
    assert metadata.json()["token_endpoint_auth_signing_alg_values_supported"] == ["SM2SM3"]
    assert pension.client_algorithm(gm_hub.base) == "SM2SM3"


def test_the_pension_system_registers_an_sm2_key_and_receives_a_death_on_a_gm_hub(
    gm_hub: DemoHub,
) -> None:
    workdir = gm_hub.workdir
    log = (workdir / "pension.log").open("ab")
    receiver = subprocess.Popen(
        [TONGBAN, "demo-receiver", "serve", "--hub", gm_hub.base, "--port", str(free_port())],
        cwd=workdir,
        env=dev_environment(**GM_ENV),
        stdout=log,
        stderr=log,
    )
    try:
        assert _events(workdir, 0, within=90) == []  # registered, subscribed, watched
        key = json.loads((workdir / "var/pension/key.jwk").read_text("utf-8"))
        assert (key["kty"], key["crv"], key["alg"]) == ("EC", "SM2", "SM2SM3")
        (pensioner,) = _tongban(workdir, "demo-receiver", "pensioners", "--limit", "1").split()
        _tongban(workdir, "demo-register-death", pensioner)
        (got,) = _events(workdir, 1, within=60)
    finally:
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=15)
        log.close()
    assert got["subject"] == pensioner
    assert got["deceased"] is True


def test_an_sm2_key_made_by_the_pension_system_signs_what_openssl_verifies(
    tmp_path: Path,
) -> None:
    key = pension.new_key(pension.SM2SM3)
    claims = {"iss": pension.SYSTEM, "iat": int(time.time())}
    header, payload, signature = pension._sm2_jws(claims, key).split(".")
    assert json.loads(_unb64(header)) == {"alg": "SM2SM3", "typ": "JWT", "kid": key["kid"]}
    point = b"\x04" + _unb64(key["x"]) + _unb64(key["y"])
    spki = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200") + point
    pem = base64.encodebytes(spki).decode()
    (tmp_path / "key.pem").write_text(
        f"-----BEGIN PUBLIC KEY-----\n{pem}-----END PUBLIC KEY-----\n"
    )
    (tmp_path / "input").write_text(f"{header}.{payload}")
    raw = _unb64(signature)
    (tmp_path / "sig.der").write_bytes(_der(raw))
    done = _run(
        _openssl(), "dgst", "-sm3", "-verify", str(tmp_path / "key.pem"), "-sigopt", DISTID,
        "-signature", str(tmp_path / "sig.der"), str(tmp_path / "input"),
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "Verified OK")


def test_a_kept_key_of_another_algorithm_is_refused(tmp_path: Path) -> None:
    office = pension.PensionOffice(tmp_path / "pension")
    assert office.key()["alg"] == "EdDSA"
    with pytest.raises(RuntimeError, match="use another --data"):
        office.key(pension.SM2SM3)


def _der(raw: bytes) -> bytes:
    def integer(value: bytes) -> bytes:
        value = value.lstrip(b"\0")
        if not value or value[0] & 0x80:
            value = b"\0" + value
        return bytes([0x02, len(value)]) + value

    body = integer(raw[:32]) + integer(raw[32:])
    return bytes([0x30, len(body)]) + body
