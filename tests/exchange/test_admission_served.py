"""Admission control in a served hub: many concurrent case-system clients against a demo hub
whose worker runs 2 requests at once and queues 2. Some are refused at once with 503
``overloaded`` and ``Retry-After``; the accepted ones complete with their answers; the audit
log grows by exactly the accepted queries (a refusal is not an exchange); the probes answer
throughout."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.servers import DemoHub, demo_hub

CLIENTS = 24
REQUESTS_EACH = 6


def log_size(base: str) -> int:
    size: int = httpx.get(f"{base}/readyz", timeout=30).json()["checks"]["witnesses"]["log_size"]
    return size


@pytest.mark.serves
def test_past_its_bound_a_served_hub_refuses_at_once_and_audits_only_what_it_accepted(
    tmp_path: Path,
) -> None:
    with demo_hub(
        tmp_path,
        TONGBAN_ADMISSION="on",  # a demo hub is dev, where it is off unless asked for
        TONGBAN_MAX_IN_FLIGHT="2",
        TONGBAN_MAX_QUEUE="2",
        TONGBAN_QUEUE_WAIT_MS="30000",  # refused only when the queue is full: at once
        TONGBAN_SCHEDULER="off",
    ) as demo:
        flood(demo)


def flood(demo: DemoHub) -> None:
    token = demo.system_token()
    subject = demo.subject("has_property")
    before = log_size(demo.base)
    accepted: list[float] = []
    refused: list[float] = []
    probes: list[int] = []
    done = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=demo.base, timeout=60) as http:
            for _ in range(REQUESTS_EACH):
                started = time.perf_counter()
                answer = http.post(
                    "/exchange/query",
                    json={
                        "subject": {"id_type": "CN-RIC", "id": subject},
                        "purpose": "school-enrolment",
                        "attributes": ["household.name", "household.birth_date"],
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
                took = time.perf_counter() - started
                if answer.status_code == 200:
                    body = answer.json()
                    assert "value" in body["attributes"]["household.name"]
                    assert "index" in body["audit"]
                    accepted.append(took)
                else:
                    assert answer.status_code == 503, answer.text
                    assert answer.headers["retry-after"] == "1"
                    assert answer.headers["content-type"] == "application/problem+json"
                    assert answer.headers["x-content-type-options"] == "nosniff"
                    assert answer.json()["code"] == "overloaded"
                    refused.append(took)

    def probe() -> None:
        with httpx.Client(base_url=demo.base, timeout=60) as http:
            while not done.is_set():
                probes.append(http.get("/healthz").status_code)
                time.sleep(0.05)

    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        watching = pool.submit(probe)
        for future in [pool.submit(client) for _ in range(CLIENTS)]:
            future.result()
        done.set()
        watching.result()

    seen = f"{len(accepted)} accepted, {len(refused)} refused"
    assert len(accepted) + len(refused) == CLIENTS * REQUESTS_EACH, seen
    assert refused, "no request was refused: the hub let every one of them wait"
    assert len(accepted) >= 2 * REQUESTS_EACH, f"too few were accepted: {seen}"
    refused_s, accepted_s = statistics.median(refused), statistics.median(accepted)
    waits = f"median {refused_s:.3f} s refused, {accepted_s:.3f} s accepted"
    assert refused_s < accepted_s, waits  # refused at once, not after a wait
    assert set(probes) == {200}  # the probe ran, and was never refused
    assert log_size(demo.base) - before == len(accepted), seen  # a refusal is not audited
