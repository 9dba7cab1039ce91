"""Source cache benchmark: incremental sync of many rows into the hub's encrypted cache, with
peak memory, against a floor; and exchange query latency on a cached resource against the
same resource live.

Run: ``.venv/bin/python -m bench.cache_sync [--rows 1000000] [--backend sqlite|postgresql]
[--repeat 1] [--batches 1000,5000] [--changed 10000] [--citizens 2000] [--queries 400]
[--no-queries] [--postgres-url URL]``.

What it does:

1. **Source**: fills an ``si`` table shaped like HRSS's insured-person table (ID number, a
   status code, months paid, employer name, ``updated_at``; two rows share each timestamp,
   so batch boundaries fall inside runs of equal watermarks) with ``--rows`` rows: SQLite
   file (``executemany``) or a throwaway PostgreSQL database (``COPY``), indexed on
   ``(updated_at, pid)``. The hub database is a SQLite file with the demo catalogue published;
   the table is bound to ``HRSS-SB-0001`` as a cached resource (watermark strategy).
2. **Sync passes**, each consuming every row (the median pass of ``--repeat`` is reported;
   the cache is emptied before each full sync):

   * **floor**: the same SELECT (four fields, key, watermark, ``ORDER BY updated_at, pid``)
     iterated with the bare driver (``sqlite3`` cursor, or a psycopg server-side cursor);
   * **adapter stream**: ``adapter.changes(None, fields)`` (mapping, schemas, size checks);
   * **full sync**: ``tongban sync``'s engine from no watermark: stream, encrypt each record
     (AES-256-GCM, HMAC pseudonym, content MAC), upsert ``--batches`` rows per transaction
     (one pass per size; the binding's default is 1,000) together with the watermark;
   * **incremental sync**: ``--changed`` rows updated with newer timestamps, then a sync from
     the committed watermark (only those rows are read).

   A thread samples ``VmRSS`` every 20 ms: "RSS growth" is the peak minus the value before the
   pass; ``ru_maxrss`` (whole-process high-water mark) is recorded after each pass.
3. **Query latency** (``--citizens`` demo city, HTTP on loopback): the demo world is built
   once, its hub database copied twice, and two hubs are served, one binding HRSS-SB-0001 live
   (the demo's SQLite store) and one cached (synced first). ``POST /exchange/query`` for
   ``social_insurance.status`` of the same subjects is timed on both, interleaved
   (``bench._common.measure_interleaved``): p50/p99 of the whole request (authenticate,
   decide, fetch, audit commit, sign).
4. Prints tables and writes ``bench/results/cache_sync-<backend>.json``.

Everything stays on loopback and the run ends by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, text

from bench._common import (
    Budget,
    driver_conninfo,
    format_table,
    git_revision,
    loopback_client,
    machine_note,
    measure_interleaved,
    postgres_unavailable,
    served_app,
    throwaway_postgres,
    timed,
    write_result,
)
from bench.adapter_stream import Pass, batches, median_pass, run_pass
from bench.exchange_query import Tokens
from catalogue.publishing import publish
from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work
from exchange.demo.build import build_demo, demo_descriptors
from exchange.demo.sources import build_legacy_world
from exchange.hub import Hub as HubParts
from exchange.settings import Settings
from exchange.sources.cache.crypto import CacheCrypto
from exchange.sources.cache.sync import CacheSync
from exchange.sources.registry import SourceRegistry

RESOURCE = "HRSS-SB-0001"
FIELDS = ("current_employer_name", "months_paid", "status")
START = datetime(2020, 1, 1, 8, 0)
LOAD_BATCH = 50_000
SYSTEM_KEY = "edu-enrolment"
MAPPING: dict[str, Any] = {
    "kind": "mapping",
    "name": "bench/si",
    "adapter": "sql",
    "connection": "src",
    "table": "si",
    "key": {"column": "pid"},
    "watermark": {"column": "updated_at"},
    "fields": {
        "status": {"column": "st", "codes": {"1": "contributing", "2": "suspended"}},
        "months_paid": {"column": "months", "format": "integer"},
        "current_employer_name": {"column": "employer"},
    },
}
DDL = (
    "CREATE TABLE si (pid VARCHAR(18) PRIMARY KEY, st VARCHAR(1), months INTEGER,"
    " employer VARCHAR(200), updated_at {stamp} NOT NULL)"
)
INDEX = "CREATE INDEX si_updated ON si (updated_at, pid)"
SELECT = "SELECT st, months, employer, pid, updated_at FROM si ORDER BY updated_at, pid"

# --------------------------------------------------------------------------------------------
# The source table
# --------------------------------------------------------------------------------------------


def stamp(i: int) -> datetime:
    """Row ``i``'s update time: two rows per second, so watermarks repeat."""
    return START + timedelta(seconds=i // 2)


def rows(count: int) -> Iterator[tuple[Any, ...]]:
    for i in range(count):
        yield (f"3301{i:014d}", "1" if i % 5 else "2", i % 480, f"演示市第{i % 997}单位", stamp(i))


def load_sqlite(path: Path, count: int) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(DDL.format(stamp="DATETIME"))
        for batch in batches(rows(count), LOAD_BATCH):
            connection.executemany(
                "INSERT INTO si VALUES (?, ?, ?, ?, ?)",
                [(*r[:4], r[4].isoformat(" ", timespec="microseconds")) for r in batch],
            )
        connection.execute(INDEX)
        connection.commit()
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def load_postgres(url: str, count: int) -> None:
    with psycopg.connect(driver_conninfo(url)) as connection:
        connection.execute(DDL.format(stamp="TIMESTAMP WITHOUT TIME ZONE"))
        with connection.cursor() as cursor, cursor.copy("COPY si FROM STDIN") as copy:
            for row in rows(count):
                copy.write_row(row)
        connection.execute(INDEX)
        connection.commit()
    with psycopg.connect(driver_conninfo(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE si")


def touch(url: str, count: int, changed: int, seed: int = 7) -> None:
    """Give *changed* random rows a new status and an update time after every other row."""
    chosen = random.Random(seed).sample(range(count), changed)
    later = stamp(count) + timedelta(hours=1)
    sqlite = url.startswith("sqlite")
    updates = []
    for n, i in enumerate(chosen):
        moment = later + timedelta(seconds=n // 2)
        when = moment.isoformat(" ", timespec="microseconds") if sqlite else moment
        updates.append({"t": when, "p": f"3301{i:014d}"})
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE si SET st = '2', updated_at = :t WHERE pid = :p"), updates)
    engine.dispose()


# --------------------------------------------------------------------------------------------
# Sync passes
# --------------------------------------------------------------------------------------------


def sqlite_floor(path: Path) -> Callable[[], int]:
    def consume() -> int:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return sum(1 for _ in connection.execute(SELECT))
        finally:
            connection.close()

    return consume


def postgres_floor(url: str) -> Callable[[], int]:
    def consume() -> int:
        with (
            psycopg.connect(driver_conninfo(url)) as connection,
            connection.cursor(name="floor") as cursor,
        ):
            cursor.itersize = 1000
            cursor.execute(SELECT)
            return sum(1 for _ in cursor)

    return consume


# The cache is encrypted under the hub's secret: the bench syncs and serves with this one.
BENCH_SECRET = "tongban-bench-only-0123456789abcdefghijklmnopqrstuvwxyzABCDEF"  # noqa: S105


class Hub:
    """A SQLite hub database with the demo catalogue, and the cached binding of the source."""

    def __init__(self, workdir: Path, source_url: str, batch_rows: int = 1000) -> None:
        self.url = f"sqlite:///{workdir / 'hub.db'}"
        self.engine = make_engine(self.url)
        migrate(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        with unit_of_work(self.sessions, write=True) as session:
            for descriptor in demo_descriptors():
                publish(session, descriptor, by="bench", now=datetime.now(UTC))
        self.sources = SourceRegistry.from_document(
            {
                "connections": {"src": {"url": source_url, "timeout_s": 30.0}},
                "mappings": {"bench/si": MAPPING},
                "resources": {
                    RESOURCE: {
                        "mapping": "bench/si",
                        "connection": "src",
                        "mode": "cached",
                        "sync": {
                            "strategy": "watermark",
                            "every_s": 3600,
                            "batch_rows": batch_rows,
                        },
                    }
                },
            }
        )
        self.crypto = CacheCrypto(BENCH_SECRET)
        self.sync = CacheSync(self.sessions, self.sources, self.crypto)

    def batched(self, batch_rows: int) -> Callable[[], int]:
        """A full sync with *batch_rows* records per transaction."""
        sync = CacheSync(self.sessions, self.sources, self.crypto, batch_rows=batch_rows)

        def consume() -> int:
            self.empty()
            return sync.run(RESOURCE).written

        return consume

    def adapter_stream(self) -> Callable[[], int]:
        adapter = self.sources.adapter(RESOURCE, 1, {})

        def consume() -> int:
            return sum(1 for _ in adapter.changes(None, FIELDS))

        return consume

    def empty(self) -> None:
        with unit_of_work(self.sessions, write=True) as session:
            session.execute(text("DELETE FROM cache_records"))
            session.execute(text("DELETE FROM cache_sync_state"))
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def incremental_sync(self) -> int:
        return self.sync.run(RESOURCE).written

    def close(self) -> None:
        self.sources.close()
        self.engine.dispose()


@contextmanager
def _source(backend: str, admin_url: str | None, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'source.db'}"
        return
    assert admin_url is not None  # checked in main
    with throwaway_postgres(admin_url, "tongban_bench_cache_sync") as url:
        yield url


def measure_sync(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with _source(args.backend, args.postgres_url, workdir) as url:
        _progress(f"loading {args.rows} rows into {args.backend} ...")
        if args.backend == "sqlite":
            _, load_s = timed(lambda: load_sqlite(workdir / "source.db", args.rows))
            floor = sqlite_floor(workdir / "source.db")
        else:
            _, load_s = timed(lambda: load_postgres(url, args.rows))
            floor = postgres_floor(url)
        hub = Hub(workdir, url)
        try:
            consumers = {"floor": floor, "adapter": hub.adapter_stream()}
            for size in args.batch_list:
                consumers[f"sync-{size}"] = hub.batched(size)
            passes: dict[str, list[Pass]] = {name: [] for name in consumers}
            for round_ in range(args.repeat):
                for name, consume in consumers.items():
                    _progress(f"round {round_ + 1}: {name} ...")
                    passes[name].append(run_pass(consume))
                    if passes[name][-1].rows != args.rows:
                        raise AssertionError(f"{name} read {passes[name][-1].rows} rows")
            _progress(f"updating {args.changed} rows, then an incremental sync ...")
            touch(url, args.rows, args.changed)
            incremental = run_pass(hub.incremental_sync)
            if incremental.rows != args.changed:
                raise AssertionError(f"the incremental sync wrote {incremental.rows} rows")
            cache_bytes = (workdir / "hub.db").stat().st_size
        finally:
            hub.close()
    chosen = {name: median_pass(found) for name, found in passes.items()}
    # the incremental run keeps the binding's batch size (1000), as a scheduled run would
    floor_rate = chosen["floor"].rows_per_s
    return {
        "load_seconds": round(load_s, 1),
        "passes": {
            name: {**p.as_dict(), "ratio_to_floor": round(floor_rate / p.rows_per_s, 2)}
            for name, p in {**chosen, "incremental": incremental}.items()
        },
        "hub_db_bytes_after": cache_bytes,
    }


# --------------------------------------------------------------------------------------------
# Query latency: the same resource live and cached, over HTTP
# --------------------------------------------------------------------------------------------


def measure_queries(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    _progress(f"building a demo city of {args.citizens} citizens ...")
    data_dir = workdir / "demo"
    city = build_legacy_world(data_dir, citizens=args.citizens, seed=2026)
    base = workdir / "hub-base.db"
    engine = make_engine(f"sqlite:///{base}")
    migrate(engine)
    with unit_of_work(make_sessionmaker(engine), write=True) as session:
        # both hubs serve with the bench secret: it unwraps the key the demo's terms are signed with
        bench = Settings(mode="dev", secret_key=BENCH_SECRET, adapters_file=None)
        subjects = [s.to_json() for s in city.subjects]
        build_demo(session, data_dir, subjects=subjects, keys=HubParts.from_settings(bench).keys)
    engine.dispose()
    live_doc = json.loads(city.adapters_file.read_text("utf-8"))
    cached_doc = json.loads(json.dumps(live_doc))
    cached_doc["resources"][RESOURCE].update(
        {"mode": "cached", "sync": {"strategy": "watermark", "every_s": 3600}}
    )
    hubs: dict[str, tuple[str, Path]] = {}
    for mode, document in (("live", live_doc), ("cached", cached_doc)):
        database = workdir / f"hub-{mode}.db"
        shutil.copyfile(base, database)
        adapters = workdir / f"adapters-{mode}.json"
        adapters.write_text(json.dumps(document, ensure_ascii=False), "utf-8")
        hubs[mode] = (f"sqlite:///{database}", adapters)
    sources = SourceRegistry.from_file(hubs["cached"][1])
    cached_engine = make_engine(hubs["cached"][0])
    synced = CacheSync(make_sessionmaker(cached_engine), sources, CacheCrypto(BENCH_SECRET)).run(
        RESOURCE
    )
    sources.close()
    cached_engine.dispose()
    subjects = _insured(city.targets.hrss_url)
    _progress(f"synced {synced.written} insured people; timing queries ...")
    with (
        served_app(
            "bench._serve",
            workdir,
            {
                "TONGBAN_DATABASE_URL": hubs["live"][0],
                "TONGBAN_ADAPTERS_FILE": str(hubs["live"][1]),
                "TONGBAN_SECRET_KEY": BENCH_SECRET,
            },
        ) as live,
        served_app(
            "bench._serve",
            workdir,
            {
                "TONGBAN_DATABASE_URL": hubs["cached"][0],
                "TONGBAN_ADAPTERS_FILE": str(hubs["cached"][1]),
                "TONGBAN_SECRET_KEY": BENCH_SECRET,
            },
        ) as cached,
        loopback_client(live.base_url) as live_client,
        loopback_client(cached.base_url) as cached_client,
    ):
        key = data_dir / "keys" / f"{SYSTEM_KEY}.jwk"
        tokens = {"live": Tokens(live.base_url, key), "cached": Tokens(cached.base_url, key)}
        clients = {"live": live_client, "cached": cached_client}
        picks = random.Random(11)

        def query(mode: str) -> Callable[[], object]:
            def call() -> object:
                tokens[mode].renew()
                body = {
                    "subject": {"id_type": "CN-RIC", "id": picks.choice(subjects)},
                    "purpose": "school-enrolment",
                    "attributes": ["social_insurance.status"],
                }
                response = clients[mode].post(
                    "/exchange/query", json=body, headers=tokens[mode].headers
                )
                if response.status_code != 200:
                    raise RuntimeError(f"{mode} answered {response.status_code}")
                return response.json()["attributes"]["social_insurance.status"]

            return call

        stats = measure_interleaved(
            {"live": query("live"), "cached": query("cached")},
            Budget(runs=args.queries, seconds=120.0),
        )
    return {
        "citizens": args.citizens,
        "insured": len(subjects),
        "latency": {mode: s.as_dict() for mode, s in stats.items()},
        "cached_over_live_p50": round(stats["cached"].p50_ms / stats["live"].p50_ms, 3),
    }


def _insured(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = [str(r[0]) for r in connection.execute(text("SELECT aac002 FROM si_person"))]
    engine.dispose()
    return found


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

LABELS = {
    "floor": "floor: bare driver SELECT",
    "adapter": "adapter.changes (mapping, schemas)",
    "incremental": "incremental sync (changed rows only)",
}


def _label(name: str) -> str:
    if name.startswith("sync-"):
        return f"full sync, {int(name[5:]):,} rows/transaction"
    return LABELS[name]


def render(result: dict[str, Any]) -> str:
    sync = result["sync"]
    table = format_table(
        ["pass", "rows", "s", "rows/s", "x floor", "RSS growth MiB", "ru_maxrss MiB"],
        [
            [
                _label(name),
                f"{p['rows']:,}",
                f"{p['seconds']:.1f}",
                f"{p['rows_per_second']:,}",
                f"{p['ratio_to_floor']:.1f}",
                f"{p['rss_growth_kib'] / 1024:.1f}",
                f"{p['ru_maxrss_kib_after'] / 1024:.0f}",
            ]
            for name, p in sync["passes"].items()
        ],
    )
    lines = [table, f"hub database after: {sync['hub_db_bytes_after'] / 2**20:.0f} MiB"]
    queries = result.get("queries")
    if queries:
        lines.append("")
        lines.append(
            format_table(
                ["exchange query (social_insurance.status)", "runs", "p50 ms", "p99 ms"],
                [
                    [mode, str(s["runs"]), f"{s['p50_ms']:.2f}", f"{s['p99_ms']:.2f}"]
                    for mode, s in queries["latency"].items()
                ],
            )
        )
    return "\n".join(lines)


def _progress(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.cache_sync", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--batches", default="1000", help="Rows per transaction of the full syncs, e.g. 1000,5000."
    )
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--citizens", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--no-queries", action="store_true", help="Skip the query latency part.")
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args(argv)
    if args.changed > args.rows:
        parser.error("--changed cannot exceed --rows")
    args.batch_list = [int(b) for b in args.batches.split(",") if b]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.backend == "postgresql":
        args.postgres_url = args.postgres_url or os.environ.get("TONGBAN_TEST_POSTGRES_URL")
        problem = postgres_unavailable(args.postgres_url)
        if problem:
            sys.stderr.write(f"bench.cache_sync: {problem}\n")
            return 2
    with tempfile.TemporaryDirectory(prefix="tongban-bench-cache-") as scratch:
        workdir = Path(scratch)
        sync = measure_sync(args, workdir)
        queries = None if args.no_queries else measure_queries(args, workdir)
    result = {
        "benchmark": "cache_sync",
        "backend": args.backend,
        "rows": args.rows,
        "repeat": args.repeat,
        "changed": args.changed,
        "sync": sync,
        "queries": queries,
        "revision": git_revision(),
        "machine": machine_note(),
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(render(result))
    path = write_result(f"cache_sync-{args.backend}", result)
    _progress(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
