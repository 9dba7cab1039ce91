"""Workers benchmark: ``tongban serve --workers N`` on PostgreSQL (issue 21, target 2).

Run: ``./dev bench workers [--workers 1,2] [--clients 16] [--seconds 12] [--rounds 2]
[--citizens 2000] [--quick]`` with ``TONGBAN_TEST_POSTGRES_URL`` naming a PostgreSQL server
whose role may create databases (or ``--postgres-url``).

What it does:

1. Creates a throwaway PostgreSQL database (dropped at the end), migrates it and builds the
   demo world into it as ``bench.exchange_query`` does (the departments' legacy stores are the
   demo's SQLite files and exports in a temporary directory), then ``VACUUM ANALYZE`` (the
   local server runs without autovacuum).
2. For each N, taking turns round by round: starts the product exactly as an operator does,
   ``tongban serve --workers N`` (the virtual environment's entry point) on 127.0.0.1
   (uvicorn's worker processes, each with its own pool and caches), waits for ``/readyz``,
   gets ``edu-enrolment``'s access token, warms up for 2 s, then ``--clients`` asyncio
   clients (one keep-alive connection each) send query (a) of ``bench.exchange_query`` (PSB,
   3 fields; decided, fetched, audited durably, signed) back to back for ``--seconds``.
3. Reports per N: requests/s, p50/p99 latency, the CPU of the server's processes (the serve
   process and its workers) and of PostgreSQL's backends per request, the client's own CPU per
   request, and how busy the machine was (``/proc/stat``). Every answer must be 200.
4. Projects what a bigger host would serve, *on paper*: a worker is CPU-bound, so with K cores
   for the hub (PostgreSQL elsewhere) the rate is about K / (hub CPU per request); 8 and 32
   workers are printed from the measured CPU per request, marked as a projection.

Writes ``bench/results/workers.json`` (``workers-quick.json`` with ``--quick``). Everything stays
on loopback; no personal data is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench._common import (
    REPO_ROOT,
    driver_conninfo,
    format_table,
    git_revision,
    machine_note,
    postgres_unavailable,
    throwaway_postgres,
    write_result,
)
from bench.exchange_query import (
    A_ATTRIBUTES,
    SEED,
    SUBJECT_SEQUENCE,
    SYSTEM,
    Tokens,
    build_world,
    hub_body,
)

PROJECTED_WORKERS = (8, 32)
WARM_UP_S = 2.0


@dataclass
class Run:
    workers: int
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    seconds: float = 0.0
    server_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_busy: float = 0.0

    def summary(self) -> dict[str, Any]:
        n = max(1, len(self.latencies))
        ordered = sorted(self.latencies)
        return {
            "workers": self.workers,
            "requests": len(self.latencies),
            "failures": self.failures,
            "req_per_s": round(len(self.latencies) / self.seconds, 1),
            "p50_ms": round(1e3 * statistics.median(ordered), 2),
            "p99_ms": round(1e3 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
            "server_cpu_ms_per_request": round(1e3 * self.server_cpu_s / n, 3),
            "postgres_cpu_ms_per_request": round(1e3 * self.postgres_cpu_s / n, 3),
            "client_cpu_ms_per_request": round(1e3 * self.client_cpu_s / n, 3),
            "machine_busy": round(self.machine_busy, 2),
        }


# -- processes and CPU ---------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of *pid*, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, float, str]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if stat is not None:
            found[int(entry.name)] = (*stat, name)
    return found


def tree_cpu_s(root: int) -> tuple[float, float]:
    """CPU seconds of *root* and its descendants, and of every PostgreSQL process."""
    table = _processes()
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _, _) in table.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    hub = sum(table[pid][1] for pid in tree if pid in table)
    postgres = sum(cpu for _, cpu, name in table.values() if name.startswith("postgres"))
    return hub, postgres


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(workers: int, workdir: Path, database_url: str, adapters: Path) -> Iterator[Any]:
    """``tongban serve --workers N`` on a free loopback port, until ready."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
    env.update(
        TONGBAN_MODE="dev",
        TONGBAN_DATABASE_URL=database_url,
        TONGBAN_ADAPTERS_FILE=str(adapters),
        TONGBAN_PUBLIC_URL=f"http://127.0.0.1:{port}",
        PYTHONPATH=str(REPO_ROOT),
    )
    tongban = Path(sys.executable).with_name("tongban")  # the venv's entry point
    command = [str(tongban), "serve", "--workers", str(workers)]
    child = subprocess.Popen(  # noqa: S603 - the product's own command
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"tongban serve --workers {workers} exited ({child.returncode})")
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the hub did not become ready within 90 s")
            time.sleep(0.2)
        yield base_url, child.pid
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()


# -- the load ------------------------------------------------------------------------------


async def drive(
    base_url: str, headers: dict[str, str], subjects: Sequence[str], clients: int, seconds: float
) -> tuple[list[float], int]:
    body = hub_body(attributes=A_ATTRIBUTES)
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def client(seed: int) -> None:
        nonlocal failures
        rng = random.Random(seed)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=base_url, trust_env=False, timeout=30, limits=limits
        ) as http:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                answer = await http.post(
                    "/exchange/query", json=body(rng.choice(subjects)), headers=headers
                )
                if answer.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures += 1

    await asyncio.gather(*(client(SEED + i) for i in range(clients)))
    return latencies, failures


def one_run(
    args: argparse.Namespace, workdir: Path, world: Any, database_url: str, workers: int
) -> Run:
    adapters = world.legacy.adapters_file
    with serving(workers, workdir, database_url, adapters) as (base_url, pid):
        tokens = Tokens(base_url, world.data_dir / "keys" / f"{SYSTEM}.jwk")
        tokens.renew()
        subjects = random.Random(SEED).choices(world.subjects, k=SUBJECT_SEQUENCE)
        asyncio.run(drive(base_url, tokens.headers, subjects, args.clients, WARM_UP_S))
        run = Run(workers)
        server_before, postgres_before = tree_cpu_s(pid)
        busy_before, total_before = machine_ticks()
        client_before, started = sum(os.times()[:2]), time.perf_counter()
        run.latencies, run.failures = asyncio.run(
            drive(base_url, tokens.headers, subjects, args.clients, args.seconds)
        )
        run.seconds = time.perf_counter() - started
        run.client_cpu_s = sum(os.times()[:2]) - client_before
        server_after, postgres_after = tree_cpu_s(pid)
        busy_after, total_after = machine_ticks()
        run.server_cpu_s = server_after - server_before
        run.postgres_cpu_s = postgres_after - postgres_before
        run.machine_busy = (busy_after - busy_before) / max(1, total_after - total_before)
    if run.failures:
        raise RuntimeError(f"{run.failures} answers were not 200 with {workers} worker(s)")
    return run


def medians(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in runs[0] if k != "workers"]
    return {
        "workers": runs[0]["workers"],
        **{k: statistics.median(r[k] for r in runs) for k in keys},
    }


def projection(per_request_ms: float) -> dict[str, float]:
    """Requests/s on a host with one core per worker, from the measured CPU per request."""
    return {str(n): round(n * 1000 / per_request_ms) for n in PROJECTED_WORKERS}


# -- the report ----------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    rows = []
    for m in result["medians"]:
        rows.append(
            [
                str(m["workers"]),
                f"{m['req_per_s']:.0f}",
                f"{m['p50_ms']:.1f}",
                f"{m['p99_ms']:.1f}",
                f"{m['server_cpu_ms_per_request']:.2f}",
                f"{m['postgres_cpu_ms_per_request']:.2f}",
                f"{m['client_cpu_ms_per_request']:.2f}",
                f"{100 * m['machine_busy']:.0f}%",
            ]
        )
    headers = ["workers", "req/s", "p50", "p99", "hub CPU", "postgres CPU", "client CPU", "busy"]
    lines = [
        f"tongban serve --workers N on PostgreSQL at {result['revision']}: query (a), "
        f"{result['clients']} clients, {result['seconds']} s x {result['rounds']} rounds "
        "(medians; ms; CPU per request)",
        "",
        format_table(headers, rows),
        "",
    ]
    by_workers = {m["workers"]: m for m in result["medians"]}
    if 1 in by_workers and 2 in by_workers:
        gain = by_workers[2]["req_per_s"] / by_workers[1]["req_per_s"]
        lines.append(f"2 workers / 1 worker: {gain:.2f}x requests/s (target: >= 1,000 req/s)")
    for workers, rates in result["projection"].items():
        shown = ", ".join(f"{n} workers ~{rate:,} req/s" for n, rate in rates.items())
        lines.append(f"on paper, from {workers} worker(s)' hub CPU per request: {shown}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev bench workers", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--citizens", type=int, default=2000)
    parser.add_argument("--postgres-url", default=os.environ.get("TONGBAN_TEST_POSTGRES_URL"))
    parser.add_argument("--quick", action="store_true", help="6 s x 1 round, 500 citizens")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds, args.citizens = 6.0, 1, 500
    args.worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    return args


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    revision, load_before = git_revision(), os.getloadavg()
    name = f"tongban_bench_workers_{os.getpid()}"
    with throwaway_postgres(args.postgres_url, name) as database_url:
        world = build_world(workdir, args.citizens, database_url=database_url)
        with psycopg.connect(driver_conninfo(database_url), autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")
        runs: dict[int, list[dict[str, Any]]] = {n: [] for n in args.worker_counts}
        for round_no in range(args.rounds):
            order = args.worker_counts if round_no % 2 == 0 else args.worker_counts[::-1]
            for workers in order:
                print(f"round {round_no + 1}: {workers} worker(s) ...", file=sys.stderr)
                runs[workers].append(one_run(args, workdir, world, database_url, workers).summary())
    summary = [medians(runs[n]) for n in args.worker_counts]
    return {
        "benchmark": "workers",
        "revision": revision,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["./dev bench workers", *sys.argv[1:]]),
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "citizens": args.citizens,
        "machine": machine_note(),
        "load_average_1_5_15_min": {"start": load_before, "end": os.getloadavg()},
        "runs": runs,
        "medians": summary,
        "projection": {
            str(m["workers"]): projection(m["server_cpu_ms_per_request"]) for m in summary
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reason = postgres_unavailable(args.postgres_url)
    if reason is not None:
        print(f"workers benchmark: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tongban-bench-") as workdir:
        result = run(args, Path(workdir))
    print(render(result))
    path = write_result("workers-quick" if args.quick else "workers", result)
    print(f"written to {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
