"""Real hubs for tests: the ``tongban`` console script of this venv, a free port, a
``tongban serve`` process that is up (``/healthz`` answers) before the test starts, and a
served demo world (:func:`demo_hub`) to act on as its users would."""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import factories
from tests.profiles import PROFILE

__all__ = [
    "TONGBAN",
    "DemoHub",
    "copy_demo",
    "demo_hub",
    "dev_environment",
    "free_port",
    "hub_environment",
    "serving",
]

TONGBAN = shutil.which("tongban", path=str(Path(sys.executable).parent)) or "tongban"
EDU = "edu-enrolment"


def hub_environment(**settings: str) -> dict[str, str]:
    """The test's environment without the hub's ``TONGBAN_*`` settings (the test servers'
    URLs stay), plus ``settings``: a hub started with it runs on its defaults, i.e. ``prod``,
    under the suite's crypto profile (``TONGBAN_CRYPTO_PROFILE``, set only under ``gm``:
    :mod:`tests.profiles`)."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TONGBAN_") or k.startswith("TONGBAN_TEST_")
    }
    profile = {"TONGBAN_CRYPTO_PROFILE": PROFILE} if PROFILE != "intl" else {}
    return {**inherited, **profile, **settings}


def dev_environment(**settings: str) -> dict[str, str]:
    """:func:`hub_environment` that asks for ``dev`` mode, as ``tongban demo`` users do."""
    return hub_environment(TONGBAN_MODE="dev", **settings)


_PORTS = range(20000, 32000)
"""Where served hubs listen: below Linux's ephemeral range (32768-60999), so that no outgoing
connection of the machine holds a port a hub is about to bind."""
_BLOCK = 200


def _own_ports() -> Iterator[int]:
    """This process's block of :data:`_PORTS`, round and round: xdist workers of one run get
    neighbouring blocks (``gw3`` the fourth), and each run starts at its own offset."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    blocks = len(_PORTS) // _BLOCK
    start = _PORTS.start + (int(run[:8], 16) + worker) % blocks * _BLOCK
    return itertools.cycle(range(start, start + _BLOCK))


_ports = _own_ports()
_ports_lock = threading.Lock()


def free_port() -> int:
    """A loopback port of this worker's own block that nothing listens on now."""
    with _ports_lock:
        for port in itertools.islice(_ports, _BLOCK):
            if _is_free(port):
                return port
    raise OSError(f"no free port in this worker's block of {_BLOCK}")


@contextmanager
def serving(
    workdir: Path, env: Mapping[str, str], *, within_s: float = 30, port: int | None = None
) -> Iterator[str]:
    """``tongban serve`` in *workdir* on a free port; its base URL once it answers.

    Unless ``env`` names one, the hub's public URL is the URL it is served at."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [TONGBAN, "serve", "--port", str(port)],
        cwd=workdir,
        env={"TONGBAN_PUBLIC_URL": base, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"tongban serve did not come up within {within_s:g} s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


@dataclass
class DemoHub:
    """A running hub over a demo world (``tongban demo`` + ``tongban serve``, ``dev`` mode),
    and the handles a test needs to act as its users."""

    base: str
    workdir: Path
    manifest: dict[str, Any]
    queried: list[str] = field(default_factory=list)

    def subject(self, kind: str, nth: int = 0) -> str:
        return str([s["id"] for s in self.manifest["subjects"] if s["kind"] == kind][nth])

    def key(self, system: str = EDU) -> dict[str, Any]:
        key: dict[str, Any] = json.loads(
            (self.workdir / "var/demo/keys" / f"{system}.jwk").read_text("utf-8")
        )
        return key

    def id_token(self, sub: str, role: str, department: str | None = None) -> str:
        """An ID token of the development identity provider."""
        body = {"sub": sub, "role": role, **({"department": department} if department else {})}
        response = httpx.post(f"{self.base}/dev/idp/token", json=body, timeout=10)
        response.raise_for_status()
        token: str = response.json()["id_token"]
        return token

    def system_token(self, system: str = EDU) -> str:
        """A hub access token of a demo case system, through ``POST /oauth/token``."""
        assertion = factories.client_assertion(self.key(system), system, f"{self.base}/oauth/token")
        response = httpx.post(
            f"{self.base}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def client(self, system: str = EDU) -> Any:
        from exchange.client import TongbanClient

        return TongbanClient.from_key_file(
            self.base, system, self.workdir / "var/demo/keys" / f"{system}.jwk"
        )


def build_demo(
    workdir: Path, *, citizens: int = 150, traffic: bool = False, **settings: str
) -> None:
    """``tongban demo --citizens N [--traffic]`` in ``workdir`` (``dev`` mode), or the test
    fails."""
    built = subprocess.run(
        [TONGBAN, "demo", "--citizens", str(citizens), *(["--traffic"] if traffic else [])],
        cwd=workdir,
        env=dev_environment(**settings),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert built.returncode == 0, built.stderr


_DEMO_TEMPLATES: dict[tuple[int, int, bool, tuple[tuple[str, str], ...]], Path] = {}
"""Demo worlds this process built, by the port they were built to be served at, their citizens,
whether they have the demo's history and their settings; each is copied for a hub, never served
itself."""


def _demo_template(port: int, citizens: int, traffic: bool, settings: dict[str, str]) -> Path:
    key = (port, citizens, traffic, tuple(sorted(settings.items())))
    if key not in _DEMO_TEMPLATES:
        template = Path(tempfile.mkdtemp(prefix=f"tongban-demo-{port}-"))
        atexit.register(shutil.rmtree, template, ignore_errors=True)
        build_demo(template, citizens=citizens, traffic=traffic, **settings)
        _DEMO_TEMPLATES[key] = template
    return _DEMO_TEMPLATES[key]


def _reusable_port(citizens: int, traffic: bool, settings: Mapping[str, str]) -> int | None:
    """A port whose demo world this process has built already and that nothing listens on."""
    for port, built_citizens, built_traffic, built_settings in _DEMO_TEMPLATES:
        if (built_citizens, built_traffic, dict(built_settings)) == (
            citizens,
            traffic,
            {**settings, **_url(port)},
        ) and _is_free(port):
            return port
    return None


def _is_free(port: int) -> bool:
    """Nothing listens on loopback *port* now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _url(port: int) -> dict[str, str]:
    return {"TONGBAN_PUBLIC_URL": f"http://127.0.0.1:{port}"}


def copy_demo(template: Path, workdir: Path) -> None:
    """The demo world built in ``template`` (its installation: ``tongban.toml``, the database,
    the secret, ``var/demo``) copied into ``workdir``, file modes and all; the absolute paths
    of ``adapters.json`` (its legacy stores) are made to point into ``workdir``."""
    shutil.copytree(template, workdir, dirs_exist_ok=True)
    adapters = workdir / "var/demo/adapters.json"
    document = json.loads(adapters.read_text("utf-8"))
    for connection in document["connections"].values():
        for name in ("url", "root"):
            if name in connection:
                connection[name] = connection[name].replace(str(template), str(workdir))
    adapters.write_text(json.dumps(document, ensure_ascii=False, indent=2), "utf-8")


@contextmanager
def demo_hub(
    workdir: Path, *, citizens: int = 150, traffic: bool = False, **settings: str
) -> Iterator[DemoHub]:
    """A demo world in ``workdir`` (with the demo's four weeks of history when *traffic*)
    served on a port of this worker in ``dev`` mode. The world is built knowing that URL, so
    what it signed (consent receipts) names the hub that serves it: ``tongban demo`` runs once
    per process for each port, and a hub on a port whose world was built already gets a copy of
    it (:func:`copy_demo`)."""
    port = _reusable_port(citizens, traffic, settings) or free_port()
    settings = {**_url(port), **settings}
    copy_demo(_demo_template(port, citizens, traffic, settings), workdir)
    with serving(workdir, dev_environment(**settings), port=port) as base:
        manifest = json.loads((workdir / "var/demo/demo.json").read_text("utf-8"))
        yield DemoHub(base, workdir, manifest)
