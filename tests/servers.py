"""Real hubs for tests: the ``tongban`` console script of this venv, a free port, and a
``tongban serve`` process that is up (``/healthz`` answers) before the test starts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

__all__ = ["TONGBAN", "free_port", "serving"]

TONGBAN = shutil.which("tongban", path=str(Path(sys.executable).parent)) or "tongban"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(workdir: Path, env: Mapping[str, str], *, within_s: float = 30) -> Iterator[str]:
    """``tongban serve`` in *workdir* on a free port; its base URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [TONGBAN, "serve", "--port", str(port)],
        cwd=workdir,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
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
