"""Helpers shared by the benchmarks: timing statistics, loopback-only databases and servers.

Everything here stays on the local machine: PostgreSQL URLs must name a loopback host (or a Unix
socket), the HTTP server binds 127.0.0.1 on an ephemeral port, and the HTTP client ignores proxy
settings from the environment.
"""

from __future__ import annotations

import json
import os
import platform
import selectors
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from sqlalchemy.engine import URL, make_url

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
SERVER_START_TIMEOUT_S = 60.0

T = TypeVar("T")


@dataclass(frozen=True)
class Stats:
    """Latency summary of one measured operation, in milliseconds."""

    runs: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float

    @classmethod
    def of_seconds(cls, samples_s: Sequence[float]) -> Stats:
        return cls.of([round(s * 1e9) for s in samples_s])

    @classmethod
    def of(cls, samples_ns: Sequence[int]) -> Stats:
        ms = [s / 1e6 for s in samples_ns]
        p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
        return cls(len(ms), statistics.median(ms), p99, statistics.fmean(ms), min(ms))

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def timed(operation: Callable[[], T]) -> tuple[T, float]:
    """Call ``operation`` once; its result and the seconds it took."""
    start = time.perf_counter()
    result = operation()
    return result, time.perf_counter() - start


@dataclass(frozen=True)
class Budget:
    """How long to measure one query: up to ``runs`` timed rounds after up to ``warmup``
    untimed ones, each phase cut short by its time limit (timing keeps at least ``min_runs``)."""

    runs: int
    seconds: float
    warmup: int = 20
    warmup_seconds: float = 2.0
    min_runs: int = 5


def measure_interleaved(
    operations: Mapping[str, Callable[[], object]], budget: Budget
) -> dict[str, Stats]:
    """Time the operations in rounds, each operation once per round, within ``budget``.

    The operations take turns (and the order rotates every round), so slow drift of a noisy
    machine lands on all of them alike instead of on whichever ran last. The warm-up also
    carries the connections past driver and server statement preparation (psycopg prepares a
    statement on its 6th execution; PostgreSQL may switch to a generic plan after 5 more).
    """
    names = list(operations)
    started = time.perf_counter()
    for _ in range(budget.warmup):
        for name in names:
            operations[name]()
        if time.perf_counter() - started > budget.warmup_seconds:
            break
    samples: dict[str, list[int]] = {name: [] for name in names}
    started = time.perf_counter()
    for i in range(budget.runs):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter_ns()
            operations[name]()
            samples[name].append(time.perf_counter_ns() - start)
        if i + 1 >= budget.min_runs and time.perf_counter() - started > budget.seconds:
            break
    return {name: Stats.of(values) for name, values in samples.items()}


def is_loopback_url(url: str) -> bool:
    """True when a database URL names a loopback host or a local Unix socket."""
    host = make_url(url).host
    return host is None or host in LOOPBACK_HOSTS or host.startswith("/")


def driver_conninfo(url: str | URL) -> str:
    """A libpq URL (no SQLAlchemy driver suffix) for connecting with psycopg directly."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_unavailable(url: str | None) -> str | None:
    """Why the given PostgreSQL URL cannot be used, or None when it answers."""
    if not url:
        return "no PostgreSQL URL (set TONGBAN_TEST_POSTGRES_URL or pass --postgres-url)"
    if not is_loopback_url(url):
        return "the PostgreSQL URL does not name a loopback host; benchmarks stay local"
    try:
        with psycopg.connect(driver_conninfo(url), connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable: {str(exc).strip().splitlines()[0]}"
    return None


@contextmanager
def throwaway_postgres(admin_url: str, name: str) -> Iterator[str]:
    """Create database ``name`` next to ``admin_url``, yield its URL, drop it afterwards."""
    admin = driver_conninfo(admin_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        sqlalchemy_url = make_url(admin_url).set(database=name)
        if sqlalchemy_url.drivername == "postgresql":
            sqlalchemy_url = sqlalchemy_url.set(drivername="postgresql+psycopg")
        yield sqlalchemy_url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def hub_server(database_url: str, workdir: Path) -> Iterator[str]:
    """Run the hub under uvicorn in a child process on 127.0.0.1:<ephemeral>; yield its base URL.

    The child binds the socket itself and reports the port on stdout, so there is no race for
    the port. It runs in ``workdir`` so no stray ``tongban.toml`` is picked up.
    """
    with served_app("bench._serve", workdir, {"TONGBAN_DATABASE_URL": database_url}) as served:
        yield served.base_url


@dataclass(frozen=True)
class ServedApp:
    """A server child process: where it listens, and its process id (for CPU accounting)."""

    base_url: str
    pid: int


@contextmanager
def served_app(
    module: str, workdir: Path, settings: Mapping[str, str], args: Sequence[str] = ()
) -> Iterator[ServedApp]:
    """Run ``python -m <module> <args>`` in ``workdir`` as a server child process, with the
    ``TONGBAN_*`` environment replaced by ``settings`` (and ``TONGBAN_MODE=dev``); the module
    binds 127.0.0.1:<ephemeral> and prints the port first. Yields once ``/readyz`` answers 200;
    the child is terminated afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
    env.update(
        TONGBAN_MODE="dev",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    )
    env.update(settings)
    child = subprocess.Popen(  # noqa: S603 - this interpreter, a bench module
        [sys.executable, "-m", module, *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = _read_port(child)
        base_url = f"http://127.0.0.1:{port}"
        _wait_ready(base_url, child)
        yield ServedApp(base_url, child.pid)
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=15)


def _read_port(child: subprocess.Popen[str]) -> int:
    assert child.stdout is not None  # stdout=PIPE above
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=SERVER_START_TIMEOUT_S):
            raise RuntimeError("the hub server did not report its port in time")
    line = child.stdout.readline().strip()
    if not line.isdigit():
        raise RuntimeError(f"the hub server did not start (exit code {child.poll()})")
    return int(line)


def _wait_ready(base_url: str, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    with loopback_client(base_url) as client:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise RuntimeError(f"the hub server exited with code {child.returncode}")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError("the hub server did not become ready in time")


def loopback_client(base_url: str) -> httpx.Client:
    """An HTTP client for the local server: keep-alive, no proxies from the environment."""
    return httpx.Client(base_url=base_url, trust_env=False, timeout=30.0)


def git_revision() -> str | None:
    """The checked-out commit, with ``+dirty`` when tracked files are modified; None without git."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def _git(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed arguments
        ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return done.stdout.strip()


def machine_note() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_result(name: str, data: Mapping[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (the directory is git-ignored) and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, columns padded to the widest cell (East Asian wide chars count 2)."""
    widths = [max(_width(c) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = [_row(headers, widths), "  ".join("-" * w for w in widths)]
    lines += [_row(row, widths) for row in rows]
    return "\n".join(lines)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True)]
    return "  ".join(padded).rstrip()


def _width(text: str) -> int:
    return sum(2 if "\u2e80" <= ch <= "\uffef" else 1 for ch in text)
