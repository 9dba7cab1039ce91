"""Adapter streaming benchmark: ``adapter.changes(since, fields)`` over many rows, against the
bare driver, with peak memory.

Run: ``.venv/bin/python -m bench.adapter_stream [--rows 1000000] [--backend sqlite|postgresql]
[--sizes 100000,300000,1000000] [--repeat 3] [--postgres-url URL]``.

What it does:

1. Fills a ``T_PERSON`` table (the shape of :mod:`bench.adapter_lookup`: GBK name bytes, a sex
   code, a ``YYYYMMDD`` date, an address, an integer, and an update time ``GXSJ`` that increases
   row by row) with ``--rows`` rows, generated on the fly: ``sqlite3.executemany`` in batches
   into a SQLite file, or ``COPY`` into a throwaway PostgreSQL database (dropped at the end).
   ``(GXSJ, GMSFHM)`` is indexed, as a watermark column would be.
2. For each size N of ``--sizes`` (at most ``--rows``), streams the N newest rows: ``since`` is
   the watermark just before them (None for the whole table), so only the row count grows.
   Passes per size, each consuming the rows without keeping them (floor and adapter alternate,
   ``--repeat`` times each; the pass of median duration is reported):

   * **floor**: the same SELECT (the five columns, key and watermark, ``WHERE GXSJ > ?``,
     ``ORDER BY GXSJ, GMSFHM``) iterated with the bare driver: a ``sqlite3`` cursor, or a psycopg
     server-side cursor (``cursor(name=...)``, 1,000 rows per fetch);
   * **adapter**: ``adapter.changes(since, fields)`` of an adapter opened with
     ``adapters.registry.open_adapter`` (SQLAlchemy ``stream_results``, 1,000 rows per batch;
     every row converted by the mapping, checked against the field schemas and size-checked,
     and yielded as a ``Change``);
   * **adapter, traced** (once): the same under ``tracemalloc``, for the peak of Python
     allocations above what was allocated before the pass.

   Rows/s come from the untraced passes. During each pass a thread samples ``VmRSS`` from
   ``/proc/self/status`` every 20 ms: "RSS growth" is the highest sample minus the value just
   before the pass (the table shows the largest over the repeats). The process's ``ru_maxrss``
   is recorded too (a high-water mark for the whole process, so it only moves when a pass goes
   above every earlier one).
3. Prints a table and writes ``bench/results/adapter_stream-<backend>.json``.

Everything stays on loopback and the run ends by itself.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sqlite3
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from adapters.base import SourceAdapter
from bench._common import (
    driver_conninfo,
    format_table,
    git_revision,
    machine_note,
    postgres_unavailable,
    throwaway_postgres,
    timed,
    write_result,
)
from bench.adapter_lookup import FIELDS, SOURCE_COLUMNS, open_source, sql_mapping

BATCH = 50_000
SAMPLE_S = 0.02
START = datetime(2020, 1, 1, 8, 0)
NAMES = tuple(
    n.encode("gbk") for n in ("张伟", "王芳", "李娜", "刘秀英", "陈敏", "杨静", "黄丽", "赵强")
)
STREETS = ("解放路", "延安路", "文三路", "西湖大道", "庆春路", "莫干山路")
DDL = """CREATE TABLE "T_PERSON" (
    "GMSFHM" VARCHAR(18) NOT NULL, "XM" {blob}, "XB" VARCHAR(1), "CSRQ" VARCHAR(8),
    "HJDZ" VARCHAR(200), "JFYS" INTEGER, "GXSJ" {stamp})"""
INDEX = 'CREATE INDEX "IX_T_PERSON_GXSJ" ON "T_PERSON" ("GXSJ", "GMSFHM")'

# --------------------------------------------------------------------------------------------
# Rows and loading
# --------------------------------------------------------------------------------------------


def stamp(i: int) -> datetime:
    """The watermark of row ``i``: increasing, one second apart."""
    return START + timedelta(seconds=i)


def rows(count: int) -> Iterator[tuple[Any, ...]]:
    """``count`` rows, generated on the fly (never held as a list)."""
    for i in range(count):
        born = 19400101 + (i % 28) + 100 * (i % 12) + 10000 * (i % 80)
        yield (
            f"3301{i:013d}X",
            NAMES[i % len(NAMES)],
            "1" if i % 2 else "2",
            str(born),
            f"杭州市{STREETS[i % len(STREETS)]}{i % 999 + 1}号",
            i % 481,
            stamp(i),
        )


def batches(items: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_sqlite(path: Path, count: int) -> None:
    """SQLite stores a DateTime as text; the same text SQLAlchemy writes and binds."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(DDL.format(blob="BLOB", stamp="DATETIME"))
        insert = 'INSERT INTO "T_PERSON" VALUES (?, ?, ?, ?, ?, ?, ?)'
        for batch in batches(rows(count), BATCH):
            connection.executemany(
                insert, [(*r[:6], r[6].isoformat(" ", timespec="microseconds")) for r in batch]
            )
        connection.execute(INDEX)
        connection.commit()
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def load_postgres(url: str, count: int) -> None:
    with psycopg.connect(driver_conninfo(url)) as connection:
        connection.execute(DDL.format(blob="BYTEA", stamp="TIMESTAMP WITHOUT TIME ZONE"))
        with connection.cursor() as cursor, cursor.copy('COPY "T_PERSON" FROM STDIN') as copy:
            for row in rows(count):
                copy.write_row(row)
        connection.execute(INDEX)
        connection.commit()
    with psycopg.connect(driver_conninfo(url), autocommit=True) as connection:
        connection.execute('VACUUM ANALYZE "T_PERSON"')


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def vm_rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler:
    """Samples VmRSS on a thread while a pass runs; ``growth_kib`` = highest - starting."""

    def __init__(self) -> None:
        self.start_kib = vm_rss_kib()
        self.peak_kib = self.start_kib
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, vm_rss_kib())

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.peak_kib = max(self.peak_kib, vm_rss_kib())

    @property
    def growth_kib(self) -> int:
        return self.peak_kib - self.start_kib


@dataclass(frozen=True)
class Pass:
    rows: int
    seconds: float
    rss_growth_kib: int
    maxrss_kib: int
    traced_peak_kib: float | None = None

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "seconds": round(self.seconds, 2),
            "rows_per_second": round(self.rows_per_s),
            "rss_growth_kib": self.rss_growth_kib,
            "ru_maxrss_kib_after": self.maxrss_kib,
            "tracemalloc_peak_kib": None
            if self.traced_peak_kib is None
            else round(self.traced_peak_kib, 1),
        }


def run_pass(consume: Callable[[], int], *, traced: bool = False) -> Pass:
    gc.collect()
    if traced:
        tracemalloc.start()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
    with RssSampler() as sampler:
        count, seconds = timed(consume)
    peak: float | None = None
    if traced:
        peak = (tracemalloc.get_traced_memory()[1] - before) / 1024
        tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return Pass(count, seconds, sampler.growth_kib, maxrss, peak)


def median_pass(passes: Sequence[Pass]) -> Pass:
    """The pass of median duration (the lower middle one for an even count)."""
    return sorted(passes, key=lambda p: p.seconds)[(len(passes) - 1) // 2]


def _select(placeholder: str | None) -> str:
    """The adapter's statement: no WHERE when it streams everything (``since`` None)."""
    chosen = [f'"{SOURCE_COLUMNS[f]}"' for f in FIELDS]
    where = "" if placeholder is None else f'WHERE "GXSJ" > {placeholder} '
    return (
        f'SELECT {", ".join(chosen)}, "GMSFHM", "GXSJ" FROM "T_PERSON" '  # noqa: S608 - fixed
        f'{where}ORDER BY "GXSJ", "GMSFHM"'
    )


def sqlite_floor(path: Path, since: datetime | None) -> Callable[[], int]:
    def consume() -> int:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            count = 0
            if since is None:
                cursor = connection.execute(_select(None))
            else:
                bound = since.isoformat(" ", timespec="microseconds")
                cursor = connection.execute(_select("?"), (bound,))
            for _ in cursor:
                count += 1
            return count
        finally:
            connection.close()

    return consume


def postgres_floor(url: str, since: datetime | None) -> Callable[[], int]:
    def consume() -> int:
        with psycopg.connect(driver_conninfo(url)) as connection:
            count = 0
            with connection.cursor(name="floor_stream") as cursor:
                cursor.itersize = 1000
                if since is None:
                    cursor.execute(_select(None))
                else:
                    cursor.execute(_select("%s"), (since,))
                for _ in cursor:
                    count += 1
            return count

    return consume


def adapter_stream(
    adapter: SourceAdapter, since: datetime | None, expected_last: str
) -> Callable[[], int]:
    mark = None if since is None else since.isoformat()

    def consume() -> int:
        count = 0
        last = None
        for change in adapter.changes(mark, FIELDS):
            count += 1
            last = change.watermark
        if last != expected_last:
            raise AssertionError(f"the stream ended at {last}, not {expected_last}")
        return count

    return consume


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with _database(backend, args.postgres_url, workdir) as url:
        _progress(f"loading {args.rows} rows into {backend} ...")
        if backend == "sqlite":
            path = workdir / "stream.db"
            _, load_s = timed(lambda: load_sqlite(path, args.rows))
            version = f"SQLite {sqlite3.sqlite_version}"
        else:
            _, load_s = timed(lambda: load_postgres(url, args.rows))
            with psycopg.connect(driver_conninfo(url)) as connection:
                found = connection.execute("SHOW server_version").fetchone()
            version = f"PostgreSQL {found[0] if found else '?'}"
        _progress(f"  loaded in {load_s:.1f} s")
        adapter = open_source(sql_mapping(), {"url": url})
        try:
            results = []
            for size in args.size_list:
                since = None if size == args.rows else stamp(args.rows - size - 1)
                expected_last = stamp(args.rows - 1).isoformat()
                floor = (
                    sqlite_floor(workdir / "stream.db", since)
                    if backend == "sqlite"
                    else postgres_floor(url, since)
                )
                consume = adapter_stream(adapter, since, expected_last)
                floors: list[Pass] = []
                adapters: list[Pass] = []
                for round_ in range(args.repeat):
                    _progress(f"streaming {size} rows, round {round_ + 1}: floor ...")
                    floors.append(run_pass(floor))
                    _progress(f"  {floors[-1].rows_per_s:,.0f} rows/s; adapter ...")
                    adapters.append(run_pass(consume))
                    _progress(f"  {adapters[-1].rows_per_s:,.0f} rows/s")
                _progress("  adapter under tracemalloc ...")
                traced = run_pass(consume, traced=True)
                for done in (*floors, *adapters, traced):
                    if done.rows != size:
                        raise AssertionError(f"streamed {done.rows} rows, not {size}")
                floor_pass, adapter_pass = median_pass(floors), median_pass(adapters)
                results.append(
                    {
                        "rows": size,
                        "floor": floor_pass.as_dict(),
                        "adapter": adapter_pass.as_dict(),
                        "adapter_traced": traced.as_dict(),
                        "max_rss_growth_kib": {
                            "floor": max(p.rss_growth_kib for p in floors),
                            "adapter": max(p.rss_growth_kib for p in adapters),
                        },
                        "all_passes": {
                            "floor": [p.as_dict() for p in floors],
                            "adapter": [p.as_dict() for p in adapters],
                        },
                        "floor_over_adapter_rows_per_s": round(
                            floor_pass.rows_per_s / adapter_pass.rows_per_s, 2
                        ),
                    }
                )
        finally:
            adapter.close()
    return {
        "benchmark": "adapter_stream",
        "backend": backend,
        "database_version": version,
        "revision": git_revision(),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "table_rows": args.rows,
        "load_seconds": round(load_s, 1),
        "fields": list(FIELDS),
        "rss_sample_seconds": SAMPLE_S,
        "repeat": args.repeat,
        "machine": machine_note(),
        "load_average_1_5_15_min": os.getloadavg(),
        "sizes": results,
    }


def _database(backend: str, postgres_url: str | None, workdir: Path) -> AbstractContextManager[str]:
    if backend == "postgresql":
        if postgres_url is None:
            raise ValueError("a PostgreSQL URL is required")
        return throwaway_postgres(postgres_url, f"tongban_bench_stream_{os.getpid()}")
    return nullcontext(f"sqlite:///{workdir / 'stream.db'}")


# --------------------------------------------------------------------------------------------
# Output and entry point
# --------------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    headers = [
        "rows",
        "adapter rows/s",
        "floor rows/s",
        "floor/adapter",
        "tracemalloc peak",
        "RSS growth adapter",
        "RSS growth floor",
    ]
    table = [
        [
            f"{s['rows']:,}",
            f"{s['adapter']['rows_per_second']:,}",
            f"{s['floor']['rows_per_second']:,}",
            f"{s['floor_over_adapter_rows_per_s']:.1f}x",
            f"{s['adapter_traced']['tracemalloc_peak_kib']:,.0f} KiB",
            f"{s['max_rss_growth_kib']['adapter']:,} KiB",
            f"{s['max_rss_growth_kib']['floor']:,} KiB",
        ]
        for s in result["sizes"]
    ]
    title = (
        f"{result['database_version']} at {result['revision']}: adapter.changes() over a table "
        f"of {result['table_rows']:,} rows (loaded in {result['load_seconds']} s)"
    )
    return "\n".join([title, format_table(headers, table)])


def _progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.adapter_stream",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--sizes", default="100000,300000,1000000", help="rows streamed per run (at most --rows)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TONGBAN_TEST_POSTGRES_URL"),
        help="server for the throwaway database (default: $TONGBAN_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="untraced passes per size (the median is reported)"
    )
    args = parser.parse_args(argv)
    if args.rows < 2 or args.repeat < 1:
        parser.error("--rows must be at least 2 and --repeat at least 1")
    sizes = sorted({min(int(s), args.rows) for s in args.sizes.split(",") if s.strip()})
    if not sizes or sizes[0] < 1:
        parser.error("--sizes lists positive row counts")
    args.size_list = sizes
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.backend == "postgresql":
        reason = postgres_unavailable(args.postgres_url)
        if reason is not None:
            print(f"note: skipping PostgreSQL: {reason}")
            return 0
    with tempfile.TemporaryDirectory(prefix="tongban-bench-") as workdir:
        result = run_backend(args.backend, args, Path(workdir))
    path = write_result(f"adapter_stream-{args.backend}", result)
    print(render(result))
    print(f"written to {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
