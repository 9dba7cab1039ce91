"""Subscription benchmark: events from a source's change stream to a webhook, with 10⁵
subscribed subjects, against the adapter's raw change stream.

Run: ``.venv/bin/python -m bench.subscriptions [--subjects 100000] [--changed 5000]
[--latency 40] [--repeat 3] [--nats URL] [--amqp URL]`` (the broker URLs default to
``TONGBAN_TEST_NATS_URL`` / ``TONGBAN_TEST_AMQP_URL``; without one, that broker is left out).

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
     (signed, one subscription, so strictly in order: one request at a time);
   * **broker publish**, for each broker given: the same subjects subscribed once more with
     ``"delivery": "broker"``, that subscription's events published to each broker in turn
     (made pending again before the next one, as a replay does) (signed, in order, each after the
     broker's acknowledgement: JetStream PubAck, RabbitMQ publisher confirm) until all are
     acknowledged.

   Step 2 runs ``--repeat`` times (new changes each time); the table shows each pass's median.
3. **Latency**: ``--latency`` times, one row changes at the source, then the two jobs run back to
   back until the receiver has the event: p50 / p99 from the source's commit to the receiver's
   receipt, the scheduler's intervals excluded (they add up to 5 s + 2 s at most).
4. Prints a table and writes ``bench/results/subscriptions-sqlite.json``. What it made on the
   brokers (a stream, or an exchange and queues, under a topic of its own) is deleted after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select, update

from bench._common import format_table, machine_note, write_result
from bench.cache_sync import DDL, INDEX, MAPPING, RESOURCE
from catalogue.identifiers import make_resident_id
from exchange.db import unit_of_work
from exchange.demo.build import build_demo
from exchange.hub import Hub
from exchange.security.clientauth import SystemPrincipal
from exchange.settings import Settings
from exchange.subscriptions.brokers import stream_name
from exchange.subscriptions.delivery import Courier
from exchange.subscriptions.models import (
    DeliveryChannel,
    EventStatus,
    Subscription,
    SubscriptionEvent,
)
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


def world(
    workdir: Path, subjects: int, brokers: dict[str, str], topic: str
) -> tuple[Hub, dict[str, Hub], Path, list[str]]:
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
    publishers = {
        kind: Hub.from_settings(
            settings.model_copy(
                update={
                    "subscription_broker_url": SecretStr(url),
                    "subscription_broker_topic": topic,
                }
            )
        )
        for kind, url in brokers.items()
    }
    return hub, publishers, source, people


def subscribe(hub: Hub, people: Sequence[str], url: str | None) -> None:
    ask = SubscriptionAsk(
        purpose="minimum-living-allowance",
        attributes=["social_insurance.status"],
        subjects=people,
        webhook_url=url,
        delivery=DeliveryChannel.WEBHOOK if url else DeliveryChannel.BROKER,
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


def publish_all(courier: Courier, expected: int) -> float:
    started = time.perf_counter()
    published = 0
    while published < expected:
        result = courier.run(max_seconds=30.0)
        if result.failed:
            raise RuntimeError(f"the broker refused {result.failed} publishes")
        published += result.delivered
    return time.perf_counter() - started


def again(hub: Hub, since: datetime) -> None:
    """The broker subscription's events of this turn pending again (after another broker took
    them), as a replay would make them."""
    with unit_of_work(hub.sessions, write=True) as session:
        broker = select(Subscription.id).where(Subscription.delivery == DeliveryChannel.BROKER)
        session.execute(
            update(SubscriptionEvent)
            .where(SubscriptionEvent.subscription_id.in_(broker))
            .where(SubscriptionEvent.status == EventStatus.DELIVERED)
            .where(SubscriptionEvent.created_at >= since)
            .values(status=EventStatus.PENDING, attempts=0, next_attempt_at=datetime.now(UTC))
        )


def remove_broker_objects(brokers: dict[str, str], topic: str, subscriptions: list[str]) -> None:
    """Delete the benchmark's stream (NATS) or exchange and queues (RabbitMQ)."""

    async def nats_cleanup(url: str) -> None:
        import nats

        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(stream_name(topic))
        finally:
            await nc.close()

    async def amqp_cleanup(url: str) -> None:
        import aio_pika

        connection = await aio_pika.connect(url)
        try:
            channel = await connection.channel()
            for sub in subscriptions:
                await channel.queue_delete(f"{topic}.{sub}")
            await channel.exchange_delete(topic)
        finally:
            await connection.close()

    for kind, url in brokers.items():
        asyncio.run(nats_cleanup(url) if kind == "nats" else amqp_cleanup(url))


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


def _pass(items: int, seconds: list[float]) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "items": items,
        "seconds": [round(x, 3) for x in seconds],
        "median_s": round(median, 3),
        "per_s": round(items / median),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    brokers = {k: v for k, v in (("nats", args.nats), ("amqp", args.amqp)) if v}
    topic = f"tongban.bench-{uuid.uuid4().hex[:8]}"
    timings: dict[str, list[float]] = {"raw": [], "outbox": []}
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="tongban-bench-subs-") as tmp:
        workdir = Path(tmp)
        hub, publishers, source, people = world(workdir, args.subjects, brokers, topic)
        receiver = Receiver()
        try:
            started = time.perf_counter()
            subscribe(hub, people, receiver.url)
            subscribe_s = time.perf_counter() - started
            if publishers:  # one broker subscription, published to each broker in turn
                subscribe(next(iter(publishers.values())), people, None)
            since = _stamp(START, len(people))
            for turn in range(args.repeat):
                changed = people[turn * args.changed : (turn + 1) * args.changed]
                touch(source, changed, datetime(2030, 1, 1) + timedelta(days=turn))
                raw_count, raw_s = raw_stream(hub, since)
                since = _stamp(datetime(2030, 1, 1) + timedelta(days=turn), len(changed) - 1)
                started = time.perf_counter()
                turn_started = datetime.now(UTC)
                outbox = hub.change_reader.run()
                timings["outbox"].append(time.perf_counter() - started)
                timings["raw"].append(raw_s)
                per_sub = outbox.events // (1 + bool(publishers))
                counts |= {"raw": raw_count, "outbox": outbox.events, "events": per_sub}
                expected = len(receiver.received) + per_sub
                timings.setdefault("webhook", []).append(deliver_all(hub, receiver, expected))
                for kind, publisher in publishers.items():
                    courier = publisher.broker_courier
                    assert courier is not None
                    again(hub, turn_started)  # the same events, pending for this broker
                    timings.setdefault(kind, []).append(publish_all(courier, per_sub))
            lat = latencies(
                hub, source, people[args.changed * args.repeat :], receiver, args.latency
            )
        finally:
            receiver.close()
            with unit_of_work(hub.sessions) as session:
                subs = list(session.scalars(select(Subscription.id)))
            for publisher in publishers.values():
                publisher.close()
            hub.close()
            remove_broker_objects(brokers, topic, subs)
    passes = {
        "raw_stream": _pass(counts["raw"], timings["raw"]),
        "to_outbox": _pass(counts["outbox"], timings["outbox"]),
        "webhook": _pass(counts["events"], timings["webhook"]),
        **{f"broker_{k}": _pass(counts["events"], timings[k]) for k in publishers},
    }
    return {
        "subjects": args.subjects,
        "changed": args.changed,
        "repeat": args.repeat,
        "subscriptions": 1 + len(publishers),
        "subscribe_and_baseline_s": round(subscribe_s, 3),
        "passes": passes,
        "latency_ms": {
            "samples": len(lat),
            "p50": round(statistics.median(lat) * 1000, 1),
            "p99": round(sorted(lat)[max(0, int(len(lat) * 0.99) - 1)] * 1000, 1),
        },
        "machine": machine_note(),
    }


_NAMES = {
    "raw_stream": "raw change stream",
    "to_outbox": "stream → outbox (+audit), every subscription",
    "webhook": "outbox → webhook",
    "broker_nats": "outbox → NATS JetStream (PubAck)",
    "broker_amqp": "outbox → RabbitMQ (publisher confirm)",
}


def render(result: dict[str, Any]) -> str:
    rows = [
        [_NAMES[name], str(p["items"]), str(p["median_s"]), str(p["per_s"])]
        for name, p in result["passes"].items()
    ]
    table = format_table(["pass (median)", "items", "seconds", "per second"], rows)
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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nats", default=os.environ.get("TONGBAN_TEST_NATS_URL"))
    parser.add_argument("--amqp", default=os.environ.get("TONGBAN_TEST_AMQP_URL"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    result = run(parse_args(argv))
    print(render(result))
    path = write_result("subscriptions-sqlite", result)
    print(f"written: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
