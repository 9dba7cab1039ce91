"""Hole 10, the low ones that are the hub's own: headers on answers that carry personal data or
tokens, ``/docs`` framing and script policy, anonymous readiness probes, and connections that
trickle their headers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.base import HealthReport
from exchange.sources.registry import SourceRegistry
from tests.servers import DemoHub, dev_environment, serving


def _query(demo: DemoHub) -> httpx.Response:
    return httpx.post(
        f"{demo.base}/exchange/query",
        json={
            "subject": {"id_type": "CN-RIC", "id": demo.subject("has_property")},
            "purpose": "school-enrolment",
            "attributes": ["household.name"],
        },
        headers={"Authorization": f"Bearer {demo.system_token()}"},
        timeout=20,
    )


def test_answers_with_personal_data_or_tokens_are_never_stored(demo: DemoHub) -> None:
    token = demo.id_token(demo.subject("has_property"), "citizen")
    answers = {
        "query": _query(demo),
        "dev token": httpx.post(
            f"{demo.base}/dev/idp/token", json={"sub": "a-1", "role": "auditor"}, timeout=10
        ),
        "accesses": httpx.get(
            f"{demo.base}/citizen/accesses",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ),
        "problem": httpx.get(f"{demo.base}/audit/entries", timeout=10),
    }
    for name, answer in answers.items():
        assert answer.headers["cache-control"] == "no-store", name
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], name


def test_docs_cannot_be_framed_and_run_no_inline_script(demo: DemoHub) -> None:
    answer = httpx.get(f"{demo.base}/docs", timeout=10)
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "<script>" not in answer.text  # every script is a file of this origin
    for asset in ("swagger-ui-bundle.js", "tongban-docs.js", "swagger-ui.css"):
        assert httpx.get(f"{demo.base}/static/swagger-ui/{asset}", timeout=10).status_code == 200


def test_anonymous_readiness_shows_no_source_detail(demo: DemoHub) -> None:
    anonymous = httpx.get(f"{demo.base}/readyz", timeout=10).json()
    assert set(anonymous["checks"]) == {
        "database",
        "source_bindings",
        "source_counts",
        "witnesses",
    }
    assert anonymous["checks"]["source_bindings"] == {"status": "ok", "published": 7, "bound": 7}
    assert anonymous["checks"]["witnesses"]["policy"] == "no witness"
    assert "revision" not in anonymous["checks"]["database"]
    operator = demo.id_token("ops-1", "operator")
    detailed = httpx.get(
        f"{demo.base}/readyz", headers={"Authorization": f"Bearer {operator}"}, timeout=10
    ).json()
    assert "PSB-HJ-0001" in detailed["checks"]["sources"]
    admin = demo.id_token("reg-admin", "department_admin", "REG")
    own = httpx.get(
        f"{demo.base}/readyz", headers={"Authorization": f"Bearer {admin}"}, timeout=10
    ).json()
    assert set(own["checks"]["sources"]) == {"REG-BDC-0001"}
    bad = httpx.get(f"{demo.base}/readyz", headers={"Authorization": "Bearer x.y.z"}, timeout=10)
    assert bad.status_code == 401


def test_many_readiness_requests_probe_the_sources_once(monkeypatch: pytest.MonkeyPatch) -> None:
    probes: list[float] = []

    def slow_probe(self: SourceRegistry) -> dict[str, HealthReport]:
        probes.append(time.monotonic())
        time.sleep(0.2)
        return {"PSB-HJ-0001": HealthReport("sql", True, 1.0, "ok")}

    monkeypatch.setattr(SourceRegistry, "health", slow_probe)
    registry = SourceRegistry.empty()
    threads = [threading.Thread(target=registry.recent_health) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(probes) == 1
    registry.recent_health(max_age_s=0.0)
    assert len(probes) == 2  # a stale result is probed again


@pytest.fixture(scope="module")
def impatient_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("impatient-hub")
    with serving(workdir, dev_environment(TONGBAN_HEADER_TIMEOUT_S="1")) as base:
        yield base


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes) -> float | None:
    """Send ``trickle`` a byte every 0.2 s; when the server closes, how long it took."""
    started = time.monotonic()
    sock.settimeout(0.2)
    for byte in trickle:
        if time.monotonic() - started > seconds:
            return None
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
    return None


def test_a_connection_that_trickles_its_headers_is_dropped(impatient_hub: str) -> None:
    trickle = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with _connect(impatient_hub) as sock:
        took = _closed_within(sock, 8, trickle)
    assert took is not None, "the hub kept a trickling connection open"
    assert took < 4


def test_a_silent_connection_is_dropped(impatient_hub: str) -> None:
    with _connect(impatient_hub) as sock:
        sock.settimeout(6)
        started = time.monotonic()
        assert sock.recv(1024) == b""
        assert time.monotonic() - started < 4


def test_a_prompt_client_keeps_its_connection_for_several_requests(impatient_hub: str) -> None:
    with httpx.Client(base_url=impatient_hub, timeout=10) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
