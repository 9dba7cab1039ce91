"""A real, independent OpenID provider for tests: ``provider.mjs`` (npm's ``oidc-provider``,
pinned in ``package.json``/``package-lock.json``) run by Node on a loopback port.

``.ci/run`` installs it (``npm ci`` into ``tests/oidc/node_modules``, git-ignored). Without Node,
npm or the installed package the tests that need it are skipped locally and fail under CI
(:func:`tests.databases.missing`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.databases import missing

__all__ = ["HERE", "OpenIdProvider", "ec_jwk", "openid_provider", "require_node", "rsa_jwk"]

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "provider.mjs"
PACKAGE = HERE / "node_modules" / "oidc-provider" / "package.json"


def require_node() -> str:
    """The path of ``node``, once the pinned ``oidc-provider`` is installed; else skip (fail
    under CI)."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        missing("the OpenID provider tests need node and npm (Debian's nodejs and npm)")
    if not PACKAGE.is_file():
        missing("the OpenID provider tests need oidc-provider: npm ci --prefix tests/oidc")
    assert node is not None
    return node


def ec_jwk(kid: str) -> dict[str, Any]:
    """A fresh EC P-256 private JWK (ES256) named ``kid``."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "alg": "ES256", "use": "sig"}


def rsa_jwk(kid: str, *, bits: int = 2048, **members: str) -> dict[str, Any]:
    """A fresh RSA private JWK of ``bits`` named ``kid``, for signing (with ``members``, e.g.
    ``alg``; without ``alg`` the key may sign RS256 and PS256 alike)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", **members}


class OpenIdProvider:
    """A running ``provider.mjs``: its issuer URL; :meth:`restart` with other keys rotates them
    (same port, same issuer; its sessions and codes are gone, as after a real restart)."""

    def __init__(self, node: str, workdir: Path, config: dict[str, Any]) -> None:
        self._node = node
        self._workdir = workdir
        self.config = config
        self.issuer = f"http://127.0.0.1:{config['port']}"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        path = self._workdir / "provider.json"
        path.write_text(json.dumps(self.config), "utf-8")
        self._process = subprocess.Popen(
            [self._node, str(SCRIPT), str(path)],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self._process.stdout is not None
        said: list[str] = []  # oidc-provider's warnings (devInteractions, the Node version)
        for line in self._process.stdout:
            if line.startswith("ready "):
                break
            said.append(line)
        else:
            self.stop()
            pytest.fail("the OpenID provider did not start: " + "".join(said))
        threading.Thread(target=self._process.stdout.read, daemon=True).start()  # drain
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                discovery = f"{self.issuer}/.well-known/openid-configuration"
                if httpx.get(discovery, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail("the OpenID provider does not answer its discovery document")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self, jwks: Mapping[str, Any]) -> None:
        """Stop, and start again signing with ``jwks`` only: a key rotation."""
        self.stop()
        self.config = {**self.config, "jwks": dict(jwks)}
        self.start()


@contextmanager
def openid_provider(
    workdir: Path,
    port: int,
    *,
    clients: list[dict[str, Any]],
    accounts: Mapping[str, Mapping[str, str]],
    jwks: Mapping[str, Any],
    id_token_algorithms: tuple[str, ...] = ("ES256",),
) -> Iterator[OpenIdProvider]:
    """``provider.mjs`` on ``127.0.0.1:port`` with these clients, accounts and keys, signing ID
    tokens with ``id_token_algorithms`` (as its discovery document says)."""
    node = require_node()
    config = {
        "port": port,
        "clients": clients,
        "accounts": dict(accounts),
        "jwks": dict(jwks),
        "idTokenSigningAlgValues": list(id_token_algorithms),
    }
    provider = OpenIdProvider(node, workdir, config)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
