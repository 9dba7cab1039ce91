"""The demo story of issue 20 over real HTTP: a served demo hub (``tongban serve``, uvicorn, its
scheduler running the real ``subscriptions.changes`` and ``subscriptions.deliver`` jobs), the
demo's pension system (``tongban demo-receiver serve``, its own process, checking signatures with
its own code), and civil affairs registering deaths (``tongban demo-register-death``).

A death reaches the pension system's webhook, signed, within seconds (the time from the
registration to the receipt is measured and printed); a receiver that was down gets what it
missed when it is back, in order. The pension system's verifier shares no code with the hub's
signer.
"""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.servers import TONGBAN, demo_hub, dev_environment, free_port

pytestmark = pytest.mark.serves

PENSION = Path(__file__).resolve().parents[2] / "exchange" / "demo" / "pension.py"
WITHIN_S = 15.0
"""The changes job runs every 5 s and delivery every 2 s: a death is at the webhook within
about 7 s; 15 s leaves room for a loaded machine."""


def _tongban(workdir: Path, *args: str, timeout: float = 90) -> str:
    done = subprocess.run(
        [TONGBAN, *args],
        cwd=workdir,
        env=dev_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def _receiver(workdir: Path, hub: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    log = (workdir / "pension.log").open("ab")
    process = subprocess.Popen(
        [TONGBAN, "demo-receiver", "serve", "--hub", hub, "--port", str(port)],
        cwd=workdir,
        env=dev_environment(),
        stdout=log,
        stderr=log,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        log.close()


def _events(workdir: Path, at_least: int, within: float = 60) -> list[dict[str, Any]]:
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


def test_a_death_registration_reaches_the_pension_webhook_in_seconds_and_a_receiver_that_was_down_catches_up(  # noqa: E501
    tmp_path: Path,
) -> None:
    with demo_hub(tmp_path) as hub:
        port = free_port()
        with _receiver(tmp_path, hub.base, port):
            assert _events(tmp_path, 0) == []  # ready: the hub watches the stream
            first, second, third = _tongban(
                tmp_path, "demo-receiver", "pensioners", "--limit", "3"
            ).split()
            _tongban(tmp_path, "demo-register-death", first)
            registered = time.time()
            (got,) = _events(tmp_path, 1, within=WITHIN_S)
            latency = datetime.fromisoformat(got["received_at"]).timestamp() - registered
        print(f"\ndeath registration → pension webhook: {latency:.2f} s")
        assert got["subject"] == first
        assert got["deceased"] is True
        assert got["seq"] == 1
        assert latency < WITHIN_S

        # the receiver is down: two deaths are registered, the hub's attempts fail
        _tongban(tmp_path, "demo-register-death", second, "--died", "2026-01-02")
        _tongban(tmp_path, "demo-register-death", third)
        time.sleep(9)  # the changes job has run, delivery has failed at least once
        with _receiver(tmp_path, hub.base, port):
            caught_up = _events(tmp_path, 3, within=60)

    assert [e["seq"] for e in caught_up] == [1, 2, 3]
    assert [e["subject"] for e in caught_up] == [first, second, third]
    assert all(e["deceased"] is True for e in caught_up)
    log = (tmp_path / "pension.log").read_text("utf-8")
    assert "签名已核验" in log
    assert first not in log  # the screen shows masked numbers only


def test_the_pension_system_verifies_with_its_own_code() -> None:
    """Nothing of the hub's signing code is imported by the demo's pension system."""
    tree = ast.parse(PENSION.read_text("utf-8"))
    imported = {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not {m for m in imported if m.startswith(("exchange", "schemas", "policies"))}


def test_the_pension_system_refuses_a_tampered_or_stale_delivery() -> None:
    """Its check is the Standard Webhooks specification's example, computed by its own code."""
    from exchange.demo.pension import verify

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    body = b'{"test": 2432232314}'
    assert verify(secret, headers, body, now=1614265330)
    assert not verify(secret, headers, body + b" ", now=1614265330)
    assert not verify(secret, {**headers, "webhook-id": "msg_other"}, body, now=1614265330)
    assert not verify(secret, headers, body, now=1614265330 + 301)
    assert not verify("whsec_" + "A" * 44, headers, body, now=1614265330)
