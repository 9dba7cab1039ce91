"""Subscription benchmark: events from a source's change stream to a webhook, with 10⁵
subscribed subjects, against the adapter's raw change stream.

Run: ``.venv/bin/python -m bench.subscriptions [--subjects 100000] [--changed 5000]
[--latency 40]``.

What it does (SQLite hub database, SQLite source, a webhook receiver on loopback):

1. **Source**: an ``si`` table shaped like HRSS's insured-person table (``bench.cache_sync``'s),
   ``--subjects`` rows with valid resident ID numbers, bound live to ``HRSS-SB-0001``. The hub
   database has the demo catalogue and case systems; ``mca-dibao`` subscribes to
   ``social_insurance.status`` of every one of them (webhook on 127.0.0.1), and the change job
   reads the stream once to its end (a subscription starts with later changes).
2. ``--changed`` rows get a new status and a newer ``updated_at``, then, each timed:

   * **raw stream**: ``adapter.changes(watermark, fields)`` iterated (the floor);
   * **to the outbox**: the ``subscriptions.changes`` job's run: the same stream, pseudonyms,
     subject match, the policy decision, release shaping, one audit entry and one sealed event
     per change, committed in batches;
   * **delivery**: the ``subscriptions.deliver`` job's runs until every event was received
     (signed, one subscription, so strictly in order: one request at a time).
3. **Latency**: ``--latency`` times, one row changes at the source, then the two jobs run back to
   back until the receiver has the event: p50 / p99 from the source's commit to the receiver's
   receipt, the scheduler's intervals excluded (they add up to 5 s + 2 s at most).
4. Prints a table and writes ``bench/results/subscriptions-sqlite.json``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench._common import format_table, machine_note, write_result
from bench.cache_sync import DDL, INDEX, MAPPING, RESOURCE
from catalogue.identifiers import make_resident_id
from exchange.db import unit_of_work
from exchange.demo.build import build_demo
from exchange.hub import Hub
from exchange.security.clientauth import SystemPrincipal
from exchange.settings import Settings
from exchange.subscriptions.service import SubscriptionAsk

SYSTEM = SystemPrincipal("mca-dibao", "MCA", ("minimum-living-allowance",))
SECRET = "tongban-bench-only-0123456789abcdefghijklmnopqrstuvwxyzABCDEF"  # noqa: S105
START = datetime(2020, 1, 1, 8, 0)


def ids(count: int) -> list[str]:
    born = date(1950, 1, 1)
    return [
        make_resident_id("330104", born + timedelta(days=i // 900), i % 900 + 1)
        for i in range(count)
    ]


def load_source(path: Path, people: Sequence[str]) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(DDL.format(stamp="DATETIME"))
        connection.executemany(
            "INSERT INTO si VALUES (?, '1', 12, '演示市第1单位', ?)",
            [(p, _stamp(START, i)) for i, p in enumerate(people)],
        )
        connection.execute(INDEX)
        connection.commit()
    finally:
        connection.close()


def touch(path: Path, people: Sequence[str], at: datetime) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.executemany(
            "UPDATE si SET st = '2', updated_at = ? WHERE pid = ?",
            [(_stamp(at, i), p) for i, p in enumerate(people)],
        )
        connection.commit()
    finally:
        connection.close()


def _stamp(base: datetime, i: int) -> str:
    return (base + timedelta(milliseconds=i)).isoformat(" ", timespec="microseconds")


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[float, str]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                received.append((time.perf_counter(), self.headers["webhook-id"]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def world(workdir: Path, subjects: int) -> tuple[Hub, Path, list[str]]:
    people = ids(subjects)
    source = workdir / "si.db"
    load_source(source, people)
    adapters = workdir / "adapters.json"
    adapters.write_text(
        json.dumps(
            {
                "connections": {"src": {"url": f"sqlite:///{source}", "timeout_s": 60.0}},
                "mappings": {"bench/si": MAPPING},
                "resources": {RESOURCE: {"mapping": "bench/si", "connection": "src"}},
            }
        ),
        "utf-8",
    )
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'hub.db'}",
        mode="dev",
        secret_key=SecretStr(SECRET),
        adapters_file=adapters,
        scheduler="off",
    )
    hub = Hub.from_settings(settings)
    hub.migrate()
    with unit_of_work(hub.sessions, write=True) as session:
        build_demo(session, workdir / "demo", keys=hub.keys, with_consents=False)
    return hub, source, people


def subscribe(hub: Hub, people: Sequence[str], url: str) -> None:
    ask = SubscriptionAsk(
        purpose="minimum-living-allowance",
        attributes=["social_insurance.status"],
        subjects=people,
        webhook_url=url,
    )
    with unit_of_work(hub.sessions, write=True) as session:
        hub.subscriptions.create(session, SYSTEM, ask, datetime.now(UTC))
    hub.change_reader.run()


def raw_stream(hub: Hub, since: str) -> tuple[int, float]:
    adapter = hub.sources.adapter(RESOURCE, 1, {})
    started = time.perf_counter()
    count = sum(1 for _ in adapter.changes(since, ["status"]))
    return count, time.perf_counter() - started


def deliver_all(hub: Hub, receiver: Receiver, expected: int) -> float:
    started = time.perf_counter()
    while len(receiver.received) < expected:
        hub.courier.run(max_seconds=30.0)
    return time.perf_counter() - started


def latencies(
    hub: Hub, source: Path, people: Sequence[str], receiver: Receiver, n: int
) -> list[float]:
    found = []
    for i in range(n):
        before = len(receiver.received)
        touch(source, [people[i]], datetime(2031, 1, 1) + timedelta(seconds=i))
        committed = time.perf_counter()
        while len(receiver.received) == before:
            hub.change_reader.run()
            hub.courier.run(max_seconds=5.0)
        found.append(receiver.received[-1][0] - committed)
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tongban-bench-subs-") as tmp:
        workdir = Path(tmp)
        hub, source, people = world(workdir, args.subjects)
        receiver = Receiver()
        try:
            started = time.perf_counter()
            subscribe(hub, people, receiver.url)
            subscribe_s = time.perf_counter() - started
            since = _stamp(START, len(people))
            changed = people[: args.changed]
            touch(source, changed, datetime(2030, 1, 1))
            raw_count, raw_s = raw_stream(hub, since)
            started = time.perf_counter()
            outbox = hub.change_reader.run()
            outbox_s = time.perf_counter() - started
            deliver_s = deliver_all(hub, receiver, outbox.events)
            lat = latencies(hub, source, people[args.changed :], receiver, args.latency)
        finally:
            receiver.close()
            hub.close()
    return {
        "subjects": args.subjects,
        "changed": args.changed,
        "subscribe_and_baseline_s": round(subscribe_s, 3),
        "raw_stream": {
            "changes": raw_count,
            "seconds": round(raw_s, 3),
            "per_s": round(raw_count / raw_s),
        },
        "to_outbox": {
            "events": outbox.events,
            "seconds": round(outbox_s, 3),
            "per_s": round(outbox.events / outbox_s),
        },
        "delivery": {
            "events": outbox.events,
            "seconds": round(deliver_s, 3),
            "per_s": round(outbox.events / deliver_s),
        },
        "latency_ms": {
            "samples": len(lat),
            "p50": round(statistics.median(lat) * 1000, 1),
            "p99": round(sorted(lat)[max(0, int(len(lat) * 0.99) - 1)] * 1000, 1),
        },
        "machine": machine_note(),
    }


def render(result: dict[str, Any]) -> str:
    rows = [
        [
            "raw change stream",
            str(result["raw_stream"]["changes"]),
            f"{result['raw_stream']['seconds']}",
            str(result["raw_stream"]["per_s"]),
        ],
        [
            "stream → outbox (+audit)",
            str(result["to_outbox"]["events"]),
            f"{result['to_outbox']['seconds']}",
            str(result["to_outbox"]["per_s"]),
        ],
        [
            "outbox → webhook",
            str(result["delivery"]["events"]),
            f"{result['delivery']['seconds']}",
            str(result["delivery"]["per_s"]),
        ],
    ]
    table = format_table(["pass", "items", "seconds", "per second"], rows)
    lat = result["latency_ms"]
    return (
        f"{table}\nsource change → webhook: p50 {lat['p50']} ms, p99 {lat['p99']} ms "
        f"({lat['samples']} samples)"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=5_000)
    parser.add_argument("--latency", type=int, default=40)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    result = run(parse_args(argv))
    print(render(result))
    path = write_result("subscriptions-sqlite", result)
    print(f"written: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
