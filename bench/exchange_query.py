"""Exchange query benchmark: ``POST /exchange/query`` over real HTTP against a floor, same run.

Run: ``./dev bench exchange_query [--citizens 20000] [--requests 500] [--concurrency 4]
[--breakdown 100] [--source-delay-ms 0] [--quick]`` (or ``.venv/bin/python -m
bench.exchange_query ...``).

What it does:

1. Builds the demo world in a temporary directory: the departments' legacy stores for
   ``--citizens`` people (``exchange.demo.sources.build_legacy_world``: PSB and HRSS and MCA in
   SQLite files, REG as a GBK fixed-width export, MCA's allowance roll as CSV), and the hub
   database, a SQLite file (migrated, then ``exchange.demo.build.build_demo``: catalogue,
   service items, the case systems and their keys, the agreements).
2. Serves the hub under uvicorn in a child process on 127.0.0.1 (ephemeral port; see
   :mod:`bench._exchange_app`): the product app from ``create_app``, plus a bench-only
   ``POST /bench/floor`` route added to the app object in that process only. The case system
   ``edu-enrolment`` gets its access token from ``POST /oauth/token`` with a client assertion
   (``tests.factories.client_assertion``), renewed between phases.
3. Times these requests, every one for the same seeded sequence of citizens (random among all
   of the city's, so some own property and most do not):

   * **(a)** ``household.name``, ``household.birth_date``, ``household.registered_address``
     for purpose ``school-enrolment``: one department (PSB, a SQLite table);
   * **(b)** the service item ``EDU-RXDJ-001`` (义务教育入学登记) as a whole. Which departments
     it touches is read from the demo catalogue (PSB household, REG property fixed-width);
     the attributes the policy denies (``household.relation_to_head``: no agreement) are
     decided and audited but never fetched;
   * **dept alone**: for each department (b) touches, one query with that department's
     attributes of the item (``service_item`` plus those ``attributes``), to compare (b) with
     the slowest of them (fan-out) rather than with their sum;
   * **floor(a)**, **floor(b)**: ``POST /bench/floor`` in the same process, reading the same
     fields of the same subject from the same adapter objects after the same token check
     (the fields the hub really fetches, learned from a (b) answer before timing);
   * ``GET /healthz``, the cost of a request that touches nothing.

   Before timing, the hub's released values are checked against the floor's records for a
   property owner (name, certificate numbers) and the denials are the expected ones.

   * **limit (a)**: the same query of (a) against :mod:`bench._limit_app`, served beside the
     hub with the same token: the least a Python app must do for it (verify the token, read
     the row from PSB's SQLite file, sign an Ed25519 JWS, group-commit one audit row, with
     FastAPI and uvicorn as the hub). The hub/limit ratios (throughput, server CPU per
     request, p50) are the guard against regressions that docs/performance.md keeps per commit.

   Phases: **sequential** (one client, keep-alive; every scenario in each round, the order
   rotating, up to ``--requests`` rounds after a warm-up, within ``SEQUENTIAL_BUDGET_S``), then
   **concurrent** (``--concurrency`` client threads, each with its own keep-alive connection;
   ``--requests`` requests per scenario in ``BURSTS`` bursts, the scenarios taking turns
   burst by burst): requests/s, latency p50/p99, and the server's and the client's CPU time
   per request (``/proc/<pid>/stat``, ``os.times``); then (a) and the limit, one client each,
   and from ``--concurrency`` clients in bursts taking turns between the two servers. Then a
   **breakdown**: a second server with the pipeline's steps wrapped in timers from the outside (see
   :mod:`bench._exchange_app`), ``--breakdown`` requests of each hub scenario one at a time;
   each step's p50 and mean per request, and "HTTP and framework" = the client's latency
   minus the token check and the pipeline; SQL statements per request are counted. Then
   ``--requests`` of (b) from ``--concurrency`` clients on that server, every step call's
   p50 / p99 (what concurrency does to each step, the wait for SQLite's write lock above all).
   The timers cost about 0.3 ms a request (checked against the plain server, interleaved).

   ``--source-delay-ms D`` makes every source read wait D ms first (in both servers), as a
   source across a network would: with D > 0 the fan-out of (b) can be seen to overlap the
   reads (its fetch stage against its source reads in the breakdown).
4. Prints tables and writes ``bench/results/exchange_query.json`` (``-quick``,
   ``-delay<D>ms`` appended to the name for those runs).

Everything stays on loopback and the run ends by itself. No personal data is printed.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._common import (
    Budget,
    ServedApp,
    Stats,
    format_table,
    git_revision,
    loopback_client,
    machine_note,
    measure_interleaved,
    served_app,
    timed,
    write_result,
)
from catalogue.identifiers import ResidentIdError, parse_resident_id
from catalogue.vocabulary import DescriptorKind
from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work
from exchange.demo.build import build_demo, demo_descriptors
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.hub import Hub
from exchange.security.clientauth import CLIENT_ASSERTION_TYPE
from exchange.settings import Settings
from tests.factories import client_assertion

SEED = 20261122
SYSTEM = "edu-enrolment"
PURPOSE = "school-enrolment"
ITEM = "EDU-RXDJ-001"
A_ATTRIBUTES = ("household.name", "household.birth_date", "household.registered_address")
SEQUENTIAL_BUDGET_S = 90.0  # the whole interleaved sequential phase (tokens live 300 s)
BURSTS = 4  # concurrent phase: bursts per scenario, the scenarios taking turns
BURST_BUDGET_S = 30.0  # a burst stops taking new requests after this
TOKEN_RENEW_S = 60.0  # renew the access token between phases when it is older than this
QUOTA_HEADROOM = 15_000  # the REG agreement allows 20,000 uses a day; stay well below
SUBJECT_SEQUENCE = 5_000  # length of the seeded sequence of citizens every scenario walks

# --------------------------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What the service item asks of each resource, and what the hub really fetches."""

    item_attributes: tuple[str, ...]
    resources: Mapping[str, tuple[str, str]]  # namespace -> (resource code, provider)
    by_department: Mapping[str, tuple[str, ...]]  # provider -> the item's attributes there
    fetched: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # code -> fields

    def departments(self) -> list[str]:
        return sorted(self.by_department)


def item_plan() -> Plan:
    """EDU-RXDJ-001's attributes and the departments behind them, from the demo catalogue."""
    descriptors = demo_descriptors()
    resources = {
        d.content["namespace"]: (d.code, d.content["provider"])
        for d in descriptors
        if d.kind is DescriptorKind.RESOURCE
    }
    (item,) = [d for d in descriptors if d.kind is DescriptorKind.SERVICE_ITEM and d.code == ITEM]
    attributes = tuple(entry["attribute"] for entry in item.content["attributes"])
    by_department: dict[str, list[str]] = {}
    for attribute in attributes:
        provider = resources[attribute.partition(".")[0]][1]
        by_department.setdefault(provider, []).append(attribute)
    return Plan(attributes, resources, {k: tuple(v) for k, v in by_department.items()})


@dataclass(frozen=True)
class World:
    legacy: LegacyWorld
    data_dir: Path
    database_url: str
    subjects: tuple[str, ...]  # every citizen with a valid resident ID, in store order
    build_seconds: Mapping[str, float]


def build_world(workdir: Path, citizens: int, database_url: str | None = None) -> World:
    """The demo world for *citizens* people; the hub database a SQLite file in *workdir*, or
    the (empty) database at *database_url*."""
    data_dir = workdir / "demo"
    legacy, legacy_s = timed(lambda: build_legacy_world(data_dir, citizens=citizens, seed=SEED))
    database_url = database_url or f"sqlite:///{workdir / 'hub.db'}"
    engine = make_engine(database_url)
    try:
        started = time.perf_counter()
        migrate(engine)
        with unit_of_work(make_sessionmaker(engine), write=True) as session:
            # the served hub's secret (dev: the workdir's var/secret.key) unwraps the terms' key
            served = Settings(
                mode="dev", secret_file=workdir / "var/secret.key", adapters_file=None
            )
            subjects = [s.to_json() for s in legacy.subjects]
            build_demo(session, data_dir, subjects=subjects, keys=Hub.from_settings(served).keys)
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        hub_s = time.perf_counter() - started
    finally:
        engine.dispose()
    return World(
        legacy,
        data_dir,
        database_url,
        citizen_ids(legacy),
        {"legacy_stores": round(legacy_s, 2), "hub_database": round(hub_s, 2)},
    )


def citizen_ids(legacy: LegacyWorld) -> tuple[str, ...]:
    """Every valid resident ID in PSB's household table (read with the bare driver)."""
    path = legacy.targets.psb_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        rows = connection.execute('SELECT "GMSFHM" FROM "T_RK_HJXX" ORDER BY rowid').fetchall()
    valid = []
    for (value,) in rows:
        try:
            valid.append(parse_resident_id(str(value)).number)
        except ResidentIdError:
            continue
    return tuple(valid)


def showcase(legacy: LegacyWorld, kind: str) -> str:
    return next(s.id_number for s in legacy.subjects if s.kind == kind)


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


class Tokens:
    """The case system's hub access token, from ``POST /oauth/token`` (private_key_jwt)."""

    def __init__(self, base_url: str, key_file: Path) -> None:
        self._base_url = base_url
        self._key = json.loads(key_file.read_text("utf-8"))
        self._issued = 0.0
        self.headers: dict[str, str] = {}

    def renew(self, *, older_than: float = TOKEN_RENEW_S) -> None:
        if self.headers and time.monotonic() - self._issued < older_than:
            return
        assertion = client_assertion(self._key, SYSTEM, f"{self._base_url}/oauth/token")
        with loopback_client(self._base_url) as client:
            response = client.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_assertion_type": CLIENT_ASSERTION_TYPE,
                    "client_assertion": assertion,
                },
            )
        if response.status_code != 200:
            raise RuntimeError(f"the token endpoint answered {response.status_code}")
        self._issued = time.monotonic()
        self.headers = {"authorization": f"Bearer {response.json()['access_token']}"}


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    short: str
    path: str
    body: Callable[[str], dict[str, Any]] | None  # None: GET without a body
    hub: bool  # goes through the exchange pipeline (audited, signed)


def hub_body(**asked: Any) -> Callable[[str], dict[str, Any]]:
    def body(subject: str) -> dict[str, Any]:
        return {"subject": {"id_type": "CN-RIC", "id": subject}, "purpose": PURPOSE, **asked}

    return body


def floor_body(fields: Mapping[str, Sequence[str]]) -> Callable[[str], dict[str, Any]]:
    chosen = {code: list(names) for code, names in fields.items()}
    return lambda subject: {"subject": subject, "fields": chosen}


def scenarios(plan: Plan) -> list[Scenario]:
    psb = plan.resources["household"][0]
    found = [
        Scenario(
            "a",
            "(a) PSB, 3 fields",
            "(a)",
            "/exchange/query",
            hub_body(attributes=A_ATTRIBUTES),
            True,
        ),
        Scenario(
            "a_floor",
            "floor (a)",
            "floor (a)",
            "/bench/floor",
            floor_body({psb: [a.partition(".")[2] for a in A_ATTRIBUTES]}),
            False,
        ),
        Scenario("b", f"(b) {ITEM}", "(b)", "/exchange/query", hub_body(service_item=ITEM), True),
        Scenario(
            "b_floor", "floor (b)", "floor (b)", "/bench/floor", floor_body(plan.fetched), False
        ),
    ]
    for department in plan.departments():
        attributes = list(plan.by_department[department])
        found.append(
            Scenario(
                f"only_{department.lower()}",
                f"{department} alone ({len(attributes)} attrs of {ITEM})",
                f"{department} alone",
                "/exchange/query",
                hub_body(service_item=ITEM, attributes=attributes),
                True,
            )
        )
    found.append(Scenario("healthz", "GET /healthz", "healthz", "/healthz", None, False))
    return found


def call(
    client: httpx.Client, scenario: Scenario, subject: str, headers: Mapping[str, str]
) -> httpx.Response:
    if scenario.body is None:
        response = client.get(scenario.path)
    else:
        response = client.post(scenario.path, json=scenario.body(subject), headers=headers)
    if response.status_code != 200:
        code = response.json().get("code") if response.content.startswith(b"{") else None
        raise RuntimeError(f"{scenario.key}: HTTP {response.status_code} ({code})")
    return response


# --------------------------------------------------------------------------------------------
# Checks before timing
# --------------------------------------------------------------------------------------------


def learn_and_check(
    client: httpx.Client, tokens: Tokens, plan: Plan, owner: str, citizen: str
) -> Plan:
    """From a (b) answer for a property owner: what the hub fetches (released or unavailable
    attributes; denied ones are never fetched); check the hub's values against the floor's."""
    headers = tokens.headers
    item = client.post("/exchange/query", json=hub_body(service_item=ITEM)(owner), headers=headers)
    if item.status_code != 200 or item.json()["evidence"] is None:
        raise AssertionError(f"(b): HTTP {item.status_code}, or no evidence")
    body = item.json()
    if body["denied"] != {"household.relation_to_head": "not_granted"} or any(
        reason != "no_record" for reason in body["unavailable"].values()
    ):
        raise AssertionError("(b): not the expected denials (the demo agreements changed?)")
    fetched: dict[str, list[str]] = {}
    for attribute in plan.item_attributes:
        if attribute in body["denied"]:
            continue
        namespace, _, name = attribute.partition(".")
        fetched.setdefault(plan.resources[namespace][0], []).append(name)
    fields = {code: tuple(names) for code, names in fetched.items()}
    plan = Plan(plan.item_attributes, plan.resources, plan.by_department, fields)
    floor = client.post("/bench/floor", json=floor_body(fetched)(owner), headers=headers).json()
    psb, reg = plan.resources["household"][0], plan.resources["property"][0]
    released = body["attributes"]
    names = [r["values"]["name"] for r in floor["records"][psb]]
    if names != [released["household.name"]["value"]]:
        raise AssertionError("floor (b): PSB's name differs from the hub's")
    certificates = sorted(r["values"]["certificate_no"] for r in floor["records"][reg])
    on_hub = sorted(released["property.certificate_no"]["value"])
    if len(certificates) < 2 or certificates != on_hub:
        raise AssertionError("floor (b): REG's certificate numbers differ from the hub's")
    a = client.post(
        "/exchange/query", json=hub_body(attributes=A_ATTRIBUTES)(citizen), headers=headers
    )
    if a.status_code != 200 or sorted(a.json()["attributes"]) != sorted(A_ATTRIBUTES):
        raise AssertionError("(a): not the three attributes released")
    return plan


def property_share(
    client: httpx.Client, tokens: Tokens, plan: Plan, sequence: Sequence[str], count: int = 200
) -> float:
    """Share of the timed citizens (the first ``count`` of the sequence) who own property."""
    reg = plan.resources["property"][0]
    body = floor_body({reg: plan.fetched[reg]})
    owners = 0
    for subject in sequence[:count]:
        answer = client.post("/bench/floor", json=body(subject), headers=tokens.headers).json()
        owners += bool(answer["records"][reg])
    return owners / min(count, len(sequence))


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def walker(sequence: Sequence[str]) -> Callable[[], str]:
    """The next citizen of the shared sequence, for one scenario (each walks it from the start)."""
    position = itertools.count()
    return lambda: sequence[next(position) % len(sequence)]


def request_of(
    client: httpx.Client, scenario: Scenario, following: Callable[[], str], tokens: Tokens
) -> Callable[[], object]:
    return lambda: call(client, scenario, following(), tokens.headers)


def measure_sequential(
    base_url: str, tokens: Tokens, cases: Sequence[Scenario], sequence: Sequence[str], runs: int
) -> dict[str, Stats]:
    """One client, every scenario once per round (order rotating), up to ``runs`` rounds."""
    tokens.renew()
    with loopback_client(base_url) as client:
        operations = {s.key: request_of(client, s, walker(sequence), tokens) for s in cases}
        budget = Budget(runs, SEQUENTIAL_BUDGET_S, warmup=20, warmup_seconds=10.0)
        return measure_interleaved(operations, budget)


@dataclass
class Throughput:
    """One scenario's concurrent bursts, pooled."""

    latencies_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        n = len(self.latencies_s)
        return {
            "requests": n,
            "wall_s": round(self.wall_s, 3),
            "requests_per_s": round(n / self.wall_s, 1),
            "latency": Stats.of_seconds(self.latencies_s).as_dict(),
            "server_cpu_ms_per_request": round(1e3 * self.server_cpu_s / n, 3),
            "client_cpu_ms_per_request": round(1e3 * self.client_cpu_s / n, 3),
        }


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


@dataclass(frozen=True)
class Load:
    """How the concurrent phase drives the server."""

    server: ServedApp
    tokens: Tokens
    sequence: Sequence[str]
    requests: int
    concurrency: int


@contextmanager
def client_threads(
    load: Load, opener: Scenario
) -> Iterator[tuple[ThreadPoolExecutor, list[httpx.Client]]]:
    """``load.concurrency`` threads and as many keep-alive clients, each connection opened
    (by one ``opener`` request) before anything is timed."""
    with ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(load.concurrency))
        clients = [
            stack.enter_context(loopback_client(load.server.base_url))
            for _ in range(load.concurrency)
        ]
        load.tokens.renew()
        for client in clients:
            call(client, opener, load.sequence[0], load.tokens.headers)
        yield pool, clients


def measure_concurrent(load: Load, cases: Sequence[Scenario]) -> dict[str, Throughput]:
    """``load.requests`` per scenario from ``load.concurrency`` threads, each with its own
    keep-alive connection, in ``BURSTS`` bursts per scenario taking turns (order rotating)."""
    results = {s.key: Throughput() for s in cases}
    walkers = {s.key: walker(load.sequence) for s in cases}
    sizes = [load.requests // BURSTS + (i < load.requests % BURSTS) for i in range(BURSTS)]
    with client_threads(load, cases[-1]) as (pool, clients):
        for burst, size in enumerate(sizes):
            load.tokens.renew()
            shift = burst % len(cases)
            for scenario in [*cases[shift:], *cases[:shift]]:
                subjects = [walkers[scenario.key]() for _ in range(size)]
                burst_of(load, pool, clients, scenario, subjects, results[scenario.key])
    return results


def burst_of(
    load: Load,
    pool: ThreadPoolExecutor,
    clients: Sequence[httpx.Client],
    scenario: Scenario,
    subjects: Sequence[str],
    into: Throughput,
) -> None:
    """Every client thread takes the next subject until all are done (or the time is up)."""
    taken = itertools.count()  # next() on a count is atomic under the GIL
    deadline = time.perf_counter() + BURST_BUDGET_S
    headers = load.tokens.headers

    def worker(client: httpx.Client) -> list[float]:
        latencies = []
        while (i := next(taken)) < len(subjects) and time.perf_counter() < deadline:
            started = time.perf_counter()
            call(client, scenario, subjects[i], headers)
            latencies.append(time.perf_counter() - started)
        return latencies

    server_before, client_before = process_cpu_s(load.server.pid), own_cpu_s()
    started = time.perf_counter()
    futures = [pool.submit(worker, client) for client in clients]
    for future in futures:
        into.latencies_s.extend(future.result())
    into.wall_s += time.perf_counter() - started
    into.server_cpu_s += process_cpu_s(load.server.pid) - server_before
    into.client_cpu_s += own_cpu_s() - client_before


def measure_breakdown(
    load: Load, cases: Sequence[Scenario], count: int
) -> dict[str, dict[str, dict[str, float]]]:
    """``count`` requests of each hub scenario, one at a time (order rotating), against a
    server whose pipeline steps are timed; per scenario and step, p50 and mean in ms."""
    load.tokens.renew()
    walkers = {s.key: walker(load.sequence) for s in cases}
    sent: list[tuple[str, float]] = []
    with loopback_client(load.server.base_url) as client:
        for scenario in cases:  # warm-up: adapters opened, statements cached
            for _ in range(10):
                call(client, scenario, walkers[scenario.key](), load.tokens.headers)
        client.get("/bench/timings")  # clears them
        for i in range(count):
            shift = i % len(cases)
            for scenario in [*cases[shift:], *cases[:shift]]:
                started = time.perf_counter()
                call(client, scenario, walkers[scenario.key](), load.tokens.headers)
                sent.append((scenario.key, time.perf_counter() - started))
        records = client.get("/bench/timings").json()["requests"]
    if len(records) != len(sent):
        raise AssertionError(f"{len(records)} timing records for {len(sent)} requests")
    by_case: dict[str, list[dict[str, float]]] = {s.key: [] for s in cases}
    for (key, latency), record in zip(sent, records, strict=True):
        outside = latency - record["token"] - record["pipeline"]
        by_case[key].append({"request": latency, **record, "http_and_framework": outside})
    return {key: summarise_steps(rows) for key, rows in by_case.items()}


def measure_steps_concurrently(load: Load, scenario: Scenario) -> dict[str, dict[str, Any]]:
    """``load.requests`` of ``scenario`` from ``load.concurrency`` clients against the timed
    server: every call of every step, p50 / p99 / mean (how long writers wait for the lock)."""
    throughput = Throughput()
    following = walker(load.sequence)
    subjects = [following() for _ in range(load.requests)]
    with client_threads(load, scenario) as (pool, clients):
        clients[0].get("/bench/timings")  # clears them
        burst_of(load, pool, clients, scenario, subjects, throughput)
        calls = clients[0].get("/bench/timings").json()["calls"]
    steps = {"request": Stats.of_seconds(throughput.latencies_s).as_dict()}
    for key, durations in calls.items():
        if not key.startswith("#"):
            steps[key] = Stats.of_seconds(durations).as_dict()
    return steps


def summarise_steps(rows: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Each step's p50 and mean in ms over the requests (a step a request skipped counts 0);
    for the counts (keys starting with ``#``), p50 and mean of the count."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    summary = {}
    for key in keys:
        scale = 1.0 if key.startswith("#") else 1e3
        values = [scale * row.get(key, 0.0) for row in rows]
        summary[key] = {
            "p50_ms": round(statistics.median(values), 4),
            "mean_ms": round(statistics.fmean(values), 4),
        }
    return summary


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    labels = {c["key"]: c["label"] for c in result["scenarios"]}
    short = {c["key"]: c["short"] for c in result["scenarios"]}
    floors = {"a": "a_floor", "b": "b_floor"}
    sequential = result["sequential"]
    rows = []
    for key, stats in sequential.items():
        floor = floors.get(key)
        ratio = f"{stats['p50_ms'] / sequential[floor]['p50_ms']:.2f}x" if floor else ""
        rows.append(
            [labels[key], str(stats["runs"]), _ms(stats["p50_ms"]), _ms(stats["p99_ms"]), ratio]
        )
    parts = [
        f"exchange queries over HTTP at {result['revision']}: {result['citizens']} citizens, "
        f"SQLite hub, sources delayed {result['source_delay_ms']:g} ms; times in ms",
        "",
        "sequential, one client:",
        format_table(["scenario", "runs", "p50", "p99", "hub/floor p50"], rows),
    ]
    concurrent = result["concurrent"]
    rows = []
    for key, run in concurrent.items():
        floor = floors.get(key)
        ratio = (
            f"{concurrent[floor]['requests_per_s'] / run['requests_per_s']:.2f}x" if floor else ""
        )
        rows.append(
            [
                labels[key],
                str(run["requests"]),
                f"{run['requests_per_s']:.1f}",
                _ms(run["latency"]["p50_ms"]),
                _ms(run["latency"]["p99_ms"]),
                _ms(run["server_cpu_ms_per_request"]),
                _ms(run["client_cpu_ms_per_request"]),
                ratio,
            ]
        )
    headers = ["scenario", "requests", "req/s", "p50", "p99", "server CPU", "client CPU"]
    parts += [
        "",
        f"concurrent, {result['concurrency']} clients (CPU = ms of CPU time per request):",
        format_table([*headers, "floor/hub req/s"], rows),
        "",
        render_limit(result["limit"], result["concurrency"]),
        "",
        fan_out_note(result),
        "",
        "breakdown, one request at a time (steps nest: a/b is part of a):",
        render_breakdown(result["breakdown"], short),
        "",
        f"(b) from {result['concurrency']} clients on the timed server, every step's calls:",
        render_concurrent_steps(result["steps_under_concurrency"]["calls"]),
    ]
    if result["revision_at_end"] != result["revision"]:
        parts.append(
            f"warning: the checkout changed during the run, to {result['revision_at_end']}"
        )
    return "\n".join(parts)


def render_limit(limit: dict[str, Any], concurrency: int) -> str:
    """The hub's (a) against the limit, the guard against regressions (docs/performance.md)."""
    rows = []
    for key, label in (("a", "(a) PSB, 3 fields"), ("limit", LIMIT.label)):
        run = limit["concurrent"][key]
        rows.append(
            [
                label,
                f"{run['requests_per_s']:.1f}",
                _ms(run["latency"]["p50_ms"]),
                _ms(run["server_cpu_ms_per_request"]),
            ]
        )
    ratios = limit["ratios"]
    return "\n".join(
        [
            f"hub against the limit, {concurrency} clients, bursts taking turns:",
            format_table(["scenario", "req/s", "p50", "server CPU"], rows),
            f"limit/hub req/s {ratios['limit_over_hub_requests_per_s']:.2f}x, "
            f"hub/limit server CPU {ratios['hub_over_limit_server_cpu']:.2f}x, "
            f"hub/limit p50 {ratios['hub_over_limit_p50']:.2f}x "
            f"(one client: limit p50 {_ms(limit['sequential']['p50_ms'])})",
        ]
    )


def fan_out_note(result: dict[str, Any]) -> str:
    fan = result["fan_out"]
    alone = ", ".join(f"{d} {_ms(v)}" for d, v in fan["departments_alone_p50_ms"].items())
    reads = ", ".join(f"{s} {_ms(v)}" for s, v in fan["b_source_reads_p50_ms"].items())
    return (
        f"fan-out (sequential p50): (b) {_ms(fan['b_p50_ms'])} ms; departments alone: {alone}; "
        f"(b)/slowest {fan['b_over_slowest']:.2f}x, (b)/sum {fan['b_over_sum']:.2f}x\n"
        f"fan-out (breakdown p50): (b)'s fetch stage {_ms(fan['b_fetch_stage_p50_ms'])} ms; "
        f"its source reads: {reads}"
    )


def render_concurrent_steps(steps: Mapping[str, Mapping[str, Any]]) -> str:
    order = tree_order({"b": steps})
    rows = [
        [
            "  " * step.count("/") + step.rpartition("/")[2],
            str(steps[step]["runs"]),
            _ms(steps[step]["p50_ms"]),
            _ms(steps[step]["p99_ms"]),
            _ms(steps[step]["mean_ms"]),
        ]
        for step in order
    ]
    return format_table(["step (every call)", "calls", "p50", "p99", "mean"], rows)


def render_breakdown(breakdown: dict[str, Any], labels: Mapping[str, str]) -> str:
    cases = list(breakdown)
    rows = []
    for step in tree_order(breakdown):
        depth = step.count("/")
        name = "  " * depth + step.rpartition("/")[2]
        cells = []
        for key in cases:
            found = breakdown[key].get(step)
            cells.append(f"{_ms(found['p50_ms'])} / {_ms(found['mean_ms'])}" if found else "-")
        rows.append([name, *cells])
    headers = ["step (ms; # = count)", *[f"{labels[k]} p50 / mean" for k in cases]]
    return format_table(headers, rows)


def tree_order(breakdown: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Step paths parent first, siblings in the order they ran (a step is recorded when it
    ends, so a parent's key comes after its children's); the whole request first."""
    seen = list(dict.fromkeys(step for steps in breakdown.values() for step in steps))
    children: dict[str, list[str]] = {}
    for step in seen:
        children.setdefault(step.rpartition("/")[0], []).append(step)
    ordered: list[str] = []

    def visit(step: str) -> None:
        ordered.append(step)
        for child in children.get(step, []):
            visit(child)

    roots = sorted(children.get("", []), key=lambda s: (s != "request", s.startswith("#")))
    for root in roots:
        visit(root)
    return ordered


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev bench exchange_query",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--citizens", type=int, help="people in the demo city (default 20000)")
    parser.add_argument(
        "--requests", type=int, help="timed requests per scenario and phase (default 500)"
    )
    parser.add_argument(
        "--concurrency", type=int, help="client threads in the concurrent phase (default 4)"
    )
    parser.add_argument(
        "--breakdown", type=int, help="requests per hub scenario timed step by step (default 100)"
    )
    parser.add_argument(
        "--source-delay-ms",
        type=float,
        default=0.0,
        help="make every source read wait this long first, as across a network (default 0)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 2000 citizens, 40 requests, 2 clients, 20 step-timed (unless given)",
    )
    args = parser.parse_args(argv)
    defaults = (2000, 40, 2, 20) if args.quick else (20_000, 500, 4, 100)
    for name, default in zip(
        ("citizens", "requests", "concurrency", "breakdown"), defaults, strict=True
    ):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.source_delay_ms < 0:
        parser.error("--source-delay-ms cannot be negative")
    if args.citizens < 100 or args.requests < 8 or args.concurrency < 1 or args.breakdown < 5:
        parser.error(
            "need --citizens >= 100, --requests >= 8, --concurrency >= 1, --breakdown >= 5"
        )
    reg_uses = 5 * args.requests + 4 * args.breakdown + 200  # (b) and REG alone, all phases
    if reg_uses > QUOTA_HEADROOM:
        parser.error("too many requests for the REG agreement's daily quota of 20,000")
    return args


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    revision, load_before = git_revision(), os.getloadavg()
    _progress(f"building the demo world for {args.citizens} citizens ...")
    world = build_world(workdir, args.citizens)
    _progress(f"  built in {world.build_seconds}")
    sequence = random.Random(SEED).choices(world.subjects, k=SUBJECT_SEQUENCE)
    key_file = world.data_dir / "keys" / f"{SYSTEM}.jwk"
    settings = {
        "TONGBAN_DATABASE_URL": world.database_url,
        "TONGBAN_ADAPTERS_FILE": str(world.legacy.adapters_file),
    }
    server_args = ["--source-delay-ms", str(args.source_delay_ms)]
    gc.collect()
    gc.freeze()
    with served_app("bench._exchange_app", workdir, settings, server_args) as server:
        tokens = Tokens(server.base_url, key_file)
        tokens.renew()
        with loopback_client(server.base_url) as client:
            owner = showcase(world.legacy, "multiple_properties")
            plan = learn_and_check(client, tokens, item_plan(), owner, sequence[0])
            share = property_share(client, tokens, plan, sequence)
        cases = scenarios(plan)
        _progress(f"sequential: up to {args.requests} rounds of {len(cases)} requests ...")
        sequential = measure_sequential(server.base_url, tokens, cases, sequence, args.requests)
        timed_cases = [c for c in cases if c.key != "healthz"]
        _progress(f"concurrent: {args.requests} per scenario from {args.concurrency} clients ...")
        load = Load(server, tokens, sequence, args.requests, args.concurrency)
        concurrent = measure_concurrent(load, timed_cases)
        _progress("the limit: the same query's irreducible work (bench/_limit_app.py) ...")
        limit = measure_limit(load, workdir, world, next(c for c in cases if c.key == "a"))
    hub_cases = [c for c in cases if c.hub]
    _progress(f"breakdown: {args.breakdown} requests per hub scenario, steps timed ...")
    instrumented = [*server_args, "--instrument"]
    with served_app("bench._exchange_app", workdir, settings, instrumented) as server:
        load = Load(
            server, Tokens(server.base_url, key_file), sequence, args.requests, args.concurrency
        )
        breakdown = measure_breakdown(load, hub_cases, args.breakdown)
        (item,) = [c for c in cases if c.key == "b"]
        steps_concurrent = measure_steps_concurrently(load, item)
    return {
        "benchmark": "exchange_query",
        "revision": revision,
        "revision_at_end": git_revision(),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["./dev bench exchange_query", *sys.argv[1:]]),
        "citizens": args.citizens,
        "valid_citizen_ids": len(world.subjects),
        "share_of_timed_citizens_owning_property": round(share, 3),
        "concurrency": args.concurrency,
        "requests_per_scenario": args.requests,
        "source_delay_ms": args.source_delay_ms,
        "build_seconds": world.build_seconds,
        "item": {
            "code": ITEM,
            "departments": plan.departments(),
            "attributes_by_department": plan.by_department,
            "fields_fetched": plan.fetched,
        },
        "scenarios": [
            {"key": c.key, "label": c.label, "short": c.short, "path": c.path, "hub": c.hub}
            for c in cases
        ],
        "server": "uvicorn child on 127.0.0.1: one worker, uvloop, httptools, no access log",
        "hub_database": "SQLite file, WAL, synchronous=FULL",
        "machine": machine_note(),
        "load_average_1_5_15_min": {"start": load_before, "end": os.getloadavg()},
        "sequential": {k: v.as_dict() for k, v in sequential.items()},
        "concurrent": {k: v.as_dict() for k, v in concurrent.items()},
        "limit": limit,
        "fan_out": fan_out(sequential, breakdown["b"]),
        "breakdown": breakdown,
        "steps_under_concurrency": {"scenario": "b", "calls": steps_concurrent},
    }


LIMIT = Scenario(
    "limit",
    "limit (a): token, row, JWS, audit row",
    "limit (a)",
    "/limit/query",
    lambda subject: {"subject": subject, "fields": [a.partition(".")[2] for a in A_ATTRIBUTES]},
    False,
)


def measure_limit(hub: Load, workdir: Path, world: World, a: Scenario) -> dict[str, Any]:
    """(a) against the limit app (:mod:`bench._limit_app`, the same query's irreducible work)
    served beside the hub: one client each, then ``hub.concurrency`` clients, the two taking
    turns burst by burst; the hub/limit ratios of throughput, server CPU and p50."""
    args = ["--hub-url", hub.server.base_url, "--adapters", str(world.legacy.adapters_file)]
    with served_app("bench._limit_app", workdir, {}, args) as server:
        limit = Load(server, hub.tokens, hub.sequence, hub.requests, hub.concurrency)
        with loopback_client(server.base_url) as client:
            call(client, LIMIT, hub.sequence[0], hub.tokens.headers)  # answers, or raises
        sequential = measure_sequential(
            server.base_url, hub.tokens, [LIMIT], hub.sequence, hub.requests
        )["limit"]
        results = {"a": Throughput(), "limit": Throughput()}
        walkers = {"a": walker(hub.sequence), "limit": walker(hub.sequence)}
        sizes = [hub.requests // BURSTS + (i < hub.requests % BURSTS) for i in range(BURSTS)]
        with client_threads(hub, a) as hub_side, client_threads(limit, LIMIT) as limit_side:
            for size in sizes:
                for key, load, side, case in (
                    ("a", hub, hub_side, a),
                    ("limit", limit, limit_side, LIMIT),
                ):
                    load.tokens.renew()
                    subjects = [walkers[key]() for _ in range(size)]
                    burst_of(load, *side, case, subjects, results[key])
    concurrent = {k: v.as_dict() for k, v in results.items()}
    hub_a, least = concurrent["a"], concurrent["limit"]
    return {
        "sequential": sequential.as_dict(),
        "concurrent": concurrent,
        "ratios": {
            "limit_over_hub_requests_per_s": round(
                least["requests_per_s"] / hub_a["requests_per_s"], 2
            ),
            "hub_over_limit_server_cpu": round(
                hub_a["server_cpu_ms_per_request"] / least["server_cpu_ms_per_request"], 2
            ),
            "hub_over_limit_p50": round(hub_a["latency"]["p50_ms"] / least["latency"]["p50_ms"], 2),
        },
    }


def fan_out(sequential: Mapping[str, Stats], item_steps: Mapping[str, Any]) -> dict[str, Any]:
    """(b) against the departments queried alone (end to end), and (b)'s fetch stage against
    its source reads (from the breakdown)."""
    alone = {
        key.removeprefix("only_").upper(): stats.p50_ms
        for key, stats in sequential.items()
        if key.startswith("only_")
    }
    b_p50 = sequential["b"].p50_ms
    sources = {
        step.rpartition("source ")[2]: found["p50_ms"]
        for step, found in item_steps.items()
        if step.startswith("pipeline/fetch/source ")
    }
    return {
        "b_p50_ms": b_p50,
        "departments_alone_p50_ms": alone,
        "b_over_slowest": round(b_p50 / max(alone.values()), 3),
        "b_over_sum": round(b_p50 / sum(alone.values()), 3),
        "b_fetch_stage_p50_ms": item_steps["pipeline/fetch"]["p50_ms"],
        "b_source_reads_p50_ms": sources,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tongban-bench-") as workdir:
        result = run(args, Path(workdir))
    name = "exchange_query-quick" if args.quick else "exchange_query"
    if args.source_delay_ms:
        name += f"-delay{args.source_delay_ms:g}ms"
    path = write_result(name, result)
    print(render(result))
    print(f"written to {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
