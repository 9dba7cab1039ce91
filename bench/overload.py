"""Overload benchmark: 64 clients against one hub worker, with and without admission control.

Run: ``./dev bench overload [--clients 64] [--seconds 20] [--rounds 3] [--retry-at-once]
[--max-in-flight N] [--max-queue N] [--queue-wait-ms N] [--quick]`` (or ``.venv/bin/python -m
bench.overload ...``).

What it does:

1. Builds the demo world as ``bench.exchange_query`` does (``--citizens``, SQLite hub database).
2. Serves the product app (``bench._serve``: ``create_app`` under uvicorn, one worker, no access
   log) once per run, with ``TONGBAN_ADMISSION=on`` (and the limits given) or ``off``; the runs
   alternate on, off, on, off ... for ``--rounds`` rounds, so a noisy machine's drift lands on
   both alike.
3. In each run, ``--clients`` asyncio clients, each with its own keep-alive connection, send
   query (a) of ``bench.exchange_query`` (PSB, 3 fields, purpose ``school-enrolment``; audited
   and signed) back to back for ``--seconds`` after a warm-up. A client that is refused (503
   ``overloaded``) waits ``Retry-After`` seconds before its next request, as a well-behaved
   client does; with ``--retry-at-once`` it sends the next one at once, the worst case. A probe
   asks ``GET /healthz`` every 100 ms throughout.
4. Reports per run, and the median per mode: accepted requests/s, p50/p99 of the accepted
   requests' latency, refusals/s and the refused share, p50/p99 of the refusals' latency, the
   probe's p50/p99 and any probe that did not answer 200, and the server's CPU per accepted
   request. Writes ``bench/results/overload.json`` (``-quick``, ``-retry-at-once``
   appended for those runs).

Everything stays on loopback and the run ends by itself. No personal data is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._common import (
    Stats,
    format_table,
    git_revision,
    machine_note,
    served_app,
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
    process_cpu_s,
)

WARMUP_S = 3.0
PROBE_INTERVAL_S = 0.1
MODES = ("on", "off")


@dataclass
class Run:
    """What one run saw inside its timed window."""

    mode: str
    accepted_s: list[float] = field(default_factory=list)
    refused_s: list[float] = field(default_factory=list)
    probes_s: list[float] = field(default_factory=list)
    probe_failures: int = 0
    other: dict[str, int] = field(default_factory=dict)
    window_s: float = 0.0
    server_cpu_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        accepted, refused = len(self.accepted_s), len(self.refused_s)
        return {
            "mode": self.mode,
            "accepted": accepted,
            "refused": refused,
            "accepted_per_s": round(accepted / self.window_s, 1),
            "refused_per_s": round(refused / self.window_s, 1),
            "refused_share": round(refused / max(1, accepted + refused), 3),
            "accepted_latency": _stats(self.accepted_s),
            "refused_latency": _stats(self.refused_s),
            "probe_latency": _stats(self.probes_s),
            "probe_failures": self.probe_failures,
            "other_answers": self.other,
            "server_cpu_ms_per_accepted": round(1e3 * self.server_cpu_s / max(1, accepted), 2),
        }


def _stats(samples: Sequence[float]) -> dict[str, Any] | None:
    return Stats.of_seconds(samples).as_dict() if samples else None


@dataclass(frozen=True)
class Drive:
    """How a run loads the server."""

    base_url: str
    headers: Mapping[str, str]
    sequence: Sequence[str]
    clients: int
    seconds: float
    retry_at_once: bool


async def drive(drive: Drive, pid: int, mode: str) -> Run:
    """``drive.clients`` closed-loop clients and a probe; only what starts after the warm-up
    and ends before the deadline counts."""
    run = Run(mode)
    loop = asyncio.get_running_loop()
    start = loop.time() + WARMUP_S
    deadline = start + drive.seconds
    subjects = _cycle(drive.sequence)
    body = hub_body(attributes=list(A_ATTRIBUTES))
    cpu_at_start: list[float] = []

    async def client() -> None:
        async with _client(drive.base_url) as http:
            while (sent := loop.time()) < deadline:
                try:
                    response = await http.post(
                        "/exchange/query", json=body(next(subjects)), headers=dict(drive.headers)
                    )
                except httpx.TransportError as exc:
                    _count(run, sent, start, deadline, loop.time(), type(exc).__name__)
                    continue
                done = loop.time()
                if response.status_code == 200:
                    if start <= sent and done <= deadline:
                        run.accepted_s.append(done - sent)
                elif response.status_code == 503 and "retry-after" in response.headers:
                    if start <= sent and done <= deadline:
                        run.refused_s.append(done - sent)
                    if not drive.retry_at_once:
                        await asyncio.sleep(int(response.headers["retry-after"]))
                else:
                    _count(run, sent, start, deadline, done, str(response.status_code))

    async def probe() -> None:
        async with _client(drive.base_url) as http:
            while (sent := loop.time()) < deadline:
                response = await http.get("/healthz")
                if start <= sent:
                    run.probes_s.append(loop.time() - sent)
                    run.probe_failures += response.status_code != 200
                await asyncio.sleep(PROBE_INTERVAL_S)

    async def cpu_mark() -> None:
        await asyncio.sleep(max(0.0, start - loop.time()))
        cpu_at_start.append(process_cpu_s(pid))

    await asyncio.gather(*(client() for _ in range(drive.clients)), probe(), cpu_mark())
    run.window_s = drive.seconds
    run.server_cpu_s = process_cpu_s(pid) - cpu_at_start[0]  # includes the last answers
    return run


def _count(run: Run, sent: float, start: float, deadline: float, done: float, what: str) -> None:
    if start <= sent and done <= deadline:
        run.other[what] = run.other.get(what, 0) + 1


def _cycle(sequence: Sequence[str]) -> Iterator[str]:
    while True:
        yield from sequence


def _client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        trust_env=False,
        timeout=60.0,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


def one_run(args: argparse.Namespace, workdir: Path, world: Any, mode: str) -> Run:
    settings = {
        "TONGBAN_DATABASE_URL": world.database_url,
        "TONGBAN_ADAPTERS_FILE": str(world.legacy.adapters_file),
        "TONGBAN_ADMISSION": mode,
        "TONGBAN_SCHEDULER": "off",
        **{
            f"TONGBAN_{name.upper()}": str(getattr(args, name))
            for name in ("max_in_flight", "max_queue", "queue_wait_ms")
            if getattr(args, name) is not None
        },
    }
    sequence = random.Random(SEED).choices(world.subjects, k=SUBJECT_SEQUENCE)
    with served_app("bench._serve", workdir, settings) as server:
        tokens = Tokens(server.base_url, world.data_dir / "keys" / f"{SYSTEM}.jwk")
        tokens.renew()
        load = Drive(
            server.base_url,
            tokens.headers,
            sequence,
            args.clients,
            args.seconds,
            args.retry_at_once,
        )
        return asyncio.run(drive(load, server.pid, mode))


def medians(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def median(*path: str) -> float | None:
        values = [_dig(run, path) for run in runs]
        found = [v for v in values if v is not None]
        return round(statistics.median(found), 2) if found else None

    return {
        "runs": len(runs),
        "accepted_per_s": median("accepted_per_s"),
        "accepted_p50_ms": median("accepted_latency", "p50_ms"),
        "accepted_p99_ms": median("accepted_latency", "p99_ms"),
        "refused_per_s": median("refused_per_s"),
        "refused_share": median("refused_share"),
        "refused_p50_ms": median("refused_latency", "p50_ms"),
        "refused_p99_ms": median("refused_latency", "p99_ms"),
        "probe_p50_ms": median("probe_latency", "p50_ms"),
        "probe_p99_ms": median("probe_latency", "p99_ms"),
        "probe_failures": sum(run["probe_failures"] for run in runs),
        "server_cpu_ms_per_accepted": median("server_cpu_ms_per_accepted"),
    }


def _dig(data: Mapping[str, Any], path: Sequence[str]) -> float | None:
    value: Any = data
    for key in path:
        if value is None:
            return None
        value = value[key]
    return None if value is None else float(value)


def render(result: Mapping[str, Any]) -> str:
    headers = [
        "admission",
        "accepted/s",
        "p50 ms",
        "p99 ms",
        "refused/s",
        "refused",
        "refusal p99 ms",
        "/healthz p99 ms",
        "CPU ms/acc.",
    ]
    rows = []
    for mode in MODES:
        m = result["medians"][mode]
        rows.append(
            [
                mode,
                _cell(m["accepted_per_s"]),
                _cell(m["accepted_p50_ms"]),
                _cell(m["accepted_p99_ms"]),
                _cell(m["refused_per_s"]),
                _cell(None if m["refused_share"] is None else 100 * m["refused_share"], "%"),
                _cell(m["refused_p99_ms"]),
                _cell(m["probe_p99_ms"]),
                _cell(m["server_cpu_ms_per_accepted"]),
            ]
        )
    on, off = result["medians"]["on"], result["medians"]["off"]
    ratios = (
        f"on/off: accepted/s {on['accepted_per_s'] / off['accepted_per_s']:.2f}x, "
        f"p50 {on['accepted_p50_ms'] / off['accepted_p50_ms']:.2f}x, "
        f"p99 {on['accepted_p99_ms'] / off['accepted_p99_ms']:.2f}x"
    )
    title = (
        f"{result['clients']} clients, medians of {result['rounds']} runs of "
        f"{result['seconds']:g} s each; limits {result['limits']}"
    )
    return f"{title}\n{format_table(headers, rows)}\n{ratios}"


def _cell(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev bench overload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--citizens", type=int, help="people in the demo city (default 20000)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("--seconds", type=float, help="timed seconds per run (default 20)")
    parser.add_argument("--rounds", type=int, help="runs per mode, alternating (default 3)")
    parser.add_argument(
        "--retry-at-once",
        action="store_true",
        help="a refused client sends its next request at once instead of after Retry-After",
    )
    for name, what in (
        ("max-in-flight", "TONGBAN_MAX_IN_FLIGHT"),
        ("max-queue", "TONGBAN_MAX_QUEUE"),
        ("queue-wait-ms", "TONGBAN_QUEUE_WAIT_MS"),
    ):
        parser.add_argument(f"--{name}", type=int, help=f"{what} (default: the hub's)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2000 citizens, 5 s, 1 round"
    )
    args = parser.parse_args(argv)
    defaults = (2000, 5.0, 1) if args.quick else (20_000, 20.0, 3)
    for name, default in zip(("citizens", "seconds", "rounds"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.citizens < 100 or args.clients < 1 or args.seconds <= 0 or args.rounds < 1:
        parser.error("need --citizens >= 100, --clients >= 1, --seconds > 0, --rounds >= 1")
    return args


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from exchange.settings import Settings

    revision, load_before = git_revision(), os.getloadavg()
    print(f"building the demo world for {args.citizens} citizens ...", file=sys.stderr)
    world = build_world(workdir, args.citizens)
    gc.collect()
    gc.freeze()
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for round_ in range(args.rounds):
        for mode in MODES:
            print(f"round {round_ + 1}, admission {mode} ...", file=sys.stderr, flush=True)
            runs[mode].append(one_run(args, workdir, world, mode).summary())
    defaults = Settings.model_fields
    limits = {
        name: getattr(args, name) or defaults[name].default
        for name in ("max_in_flight", "max_queue", "queue_wait_ms")
    }
    return {
        "benchmark": "overload",
        "revision": revision,
        "revision_at_end": git_revision(),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["./dev bench overload", *sys.argv[1:]]),
        "citizens": args.citizens,
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "retry_at_once": args.retry_at_once,
        "limits": limits,
        "query": {"attributes": list(A_ATTRIBUTES), "system": SYSTEM},
        "server": "uvicorn child on 127.0.0.1: one worker, uvloop, httptools, no access log",
        "hub_database": "SQLite file, WAL, synchronous=FULL",
        "machine": machine_note(),
        "load_average_1_5_15_min": {"start": load_before, "end": os.getloadavg()},
        "runs": runs,
        "medians": {mode: medians(runs[mode]) for mode in MODES},
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tongban-bench-") as workdir:
        result = run(args, Path(workdir))
    name = "overload" + ("-quick" if args.quick else "")
    name += "-retry-at-once" if args.retry_at_once else ""
    path = write_result(name, result)
    print(render(result))
    print(f"written to {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
