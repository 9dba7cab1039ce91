"""The events half of ``bench/federation.py`` (``--events N``): a change event crossing two hubs
(province source change → city system's webhook, 回流) against the same event delivered by the
province to its own system. The set-up and what is measured are in ``bench/federation.py``'s
docstring."""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench._common import format_table, machine_note, write_result
from bench.federation import PURPOSE, _run, _serving, _set_up, _token
from exchange.demo import pension

__all__ = ["run_events"]

WITHIN_S = 120.0
PATHS = ("local", "city")


class _Arrivals:
    """When each subject's event arrived at each webhook path (first arrival only)."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.at: dict[tuple[str, str], float] = {}

    def record(self, path: str, subject: str) -> None:
        with self.lock:
            self.at.setdefault((path, subject), time.time())
            self.lock.notify_all()

    def wait(self, keys: list[tuple[str, str]], within: float = WITHIN_S) -> None:
        deadline = time.monotonic() + within
        with self.lock:
            while not all(k in self.at for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sum(1 for k in keys if k not in self.at)
                    raise SystemExit(f"{missing} event(s) did not arrive within {within:g} s")
                self.lock.wait(left)


@contextmanager
def _receiver() -> Iterator[tuple[str, _Arrivals]]:
    arrivals = _Arrivals()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            data = json.loads(body)["data"]
            arrivals.record(self.path.strip("/"), str(data["subject"]["id"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", arrivals
    finally:
        server.shutdown()
        server.server_close()


def _living(mca_url: str, count: int) -> list[str]:
    engine = create_engine(mca_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id_card_no FROM marriage_registration WHERE id_card_no NOT IN "
                    "(SELECT id_card_no FROM death_registration) ORDER BY id_card_no"
                )
            ).all()
    finally:
        engine.dispose()
    found = sorted({str(r[0]) for r in rows})
    if len(found) < count:
        raise SystemExit(f"the demo world has {len(found)} living people; ask for more citizens")
    return found[:count]


def _subscribe(base: str, token: str, subjects: list[str], hook: str) -> str:
    body = {
        "purpose": PURPOSE,
        "attributes": ["death.deceased"],
        "subjects": subjects,
        "webhook_url": hook,
    }
    headers = {"Authorization": f"Bearer {token}"}
    made = httpx.post(f"{base}/subscriptions", json=body, headers=headers, timeout=120)
    if made.status_code != 201:
        raise SystemExit(f"{base}: {made.status_code} {made.text[:300]}")
    sub_id: str = made.json()["id"]
    deadline = time.monotonic() + WITHIN_S
    while time.monotonic() < deadline:
        seen = httpx.get(f"{base}/subscriptions/{sub_id}", headers=headers, timeout=30).json()
        if seen.get("watching"):
            return sub_id
        time.sleep(0.5)
    raise SystemExit(f"{base}: the subscription is not watching within {WITHIN_S:g} s")


def _register(mca_url: str, subject: str) -> float:
    pension.register_death(mca_url, subject, date.today(), datetime.now(UTC))
    return time.time()


def run_events(events: int, burst: int, citizens: int) -> int:
    with tempfile.TemporaryDirectory(prefix="tongban-federation-events-") as tmp:
        province, p_url, city, c_url = _set_up(Path(tmp), max(citizens, 400))
        adapters = json.loads((province / "var/demo/adapters.json").read_text("utf-8"))
        mca_url = str(adapters["connections"]["mca"]["url"])
        subjects = _living(mca_url, events + burst)
        with _serving(province, p_url), _serving(city, c_url), _receiver() as (hook, arrivals):
            _run(province, p_url, "peers", "add", "--id", "city", "--url", c_url,
                 "--consumer-system", "city-hub")  # fmt: skip
            _run(city, c_url, "peers", "add", "--id", "province", "--url", p_url,
                 "--client-id", "city-hub", "--key", "keys/city-hub.jwk")  # fmt: skip
            _run(city, c_url, "peers", "harvest", "province")
            local_token = _token(
                p_url, "edu-enrolment", province / "var/demo/keys/edu-enrolment.jwk"
            )
            city_token = _token(c_url, "city-edu", city / "keys/city-edu.jwk")
            _subscribe(p_url, local_token, subjects, f"{hook}/local")
            _subscribe(c_url, city_token, subjects, f"{hook}/city")
            latency: dict[str, list[float]] = {p: [] for p in PATHS}
            for subject in subjects[:events]:
                committed = _register(mca_url, subject)
                arrivals.wait([(p, subject) for p in PATHS])
                for p in PATHS:
                    latency[p].append(arrivals.at[(p, subject)] - committed)
            batch = subjects[events:]
            first = time.time()
            for subject in batch:
                _register(mca_url, subject)
            arrivals.wait([(p, s) for p in PATHS for s in batch])
            spans = {p: max(arrivals.at[(p, s)] for s in batch) - first for p in PATHS}
    result = _report(latency, spans, len(batch))
    result["machine"] = machine_note()
    print(f"\nwrote {write_result('federation-events', result)}")
    return 0


def _report(latency: dict[str, list[float]], spans: dict[str, float], burst: int) -> dict[str, Any]:
    names = {"local": "local (province → its system)", "city": "cross-hub (province → city)"}
    stats = {
        p: {
            "median_s": statistics.median(latency[p]),
            "min_s": min(latency[p]),
            "max_s": max(latency[p]),
            "burst_s": spans[p],
            "burst_events_per_s": burst / spans[p],
        }
        for p in PATHS
    }
    rows = [
        [
            names[p],
            str(len(latency[p])),
            f"{v['median_s']:.2f}",
            f"{v['min_s']:.2f}",
            f"{v['max_s']:.2f}",
            f"{v['burst_s']:.1f}",
            f"{v['burst_events_per_s']:.1f}",
        ]
        for p, v in stats.items()
    ]
    headers = ["event", "n", "median s", "min s", "max s", f"{burst} at once s", "events/s"]
    print(format_table(headers, rows))
    ratio = stats["city"]["median_s"] / stats["local"]["median_s"]
    throughput = stats["city"]["burst_events_per_s"] / stats["local"]["burst_events_per_s"]
    print(f"cross-hub / local: latency {ratio:.2f}x (medians), throughput {throughput:.2f}x")
    return {
        "local": stats["local"],
        "cross_hub": stats["city"],
        "latency_ratio_median": ratio,
        "throughput_ratio": throughput,
        "events": len(latency["local"]),
        "burst": burst,
    }
