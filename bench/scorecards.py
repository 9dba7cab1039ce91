"""Scorecards benchmark: what the data authority's page and report of a closed month cost when
counted on demand, and when read from ``scorecard_months`` (:mod:`exchange.scorecards.stored`).

Run: ``./dev bench scorecards [--entries 100000] [--repeat 5]`` (or
``.venv/bin/python -m bench.scorecards ...``).

1. **Load.** A fresh migrated hub database (a SQLite file, WAL, as :func:`exchange.db.make_engine`
   sets it) with the demo's departments, case systems and resources (one version each, updated
   daily) and ``--entries`` access entries (``bench._audit_store.synthetic_entry``: queries and
   verifies shaped like the pipeline's, 1.7 kB each), recorded across one closed China month.
2. **Before** (counted on demand, as every request did until stored months): the page's answer,
   ``scorecards(...).as_json()`` plus the six months' ``trend``, and the CSV report,
   ``csv_report(scorecards(...))``.
3. **After**: the first request stores the month (timed once: the cost moves to the
   ``scorecards.months`` job after the month's end, or to that first request); then the page's
   answer (``month_cards`` + ``month_trend``, the trend's earlier months kept by the job as each
   ended) and the CSV (``csv_of(month_cards(...))``), read.

Each measured ``--repeat`` times, taking turns; prints medians and writes
``bench/results/scorecards.json``. Stays on this machine; the data is synthetic.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from bench._audit_store import ENTRIES, RESOURCES, SYSTEMS, record_row, synthetic_entry
from bench._common import format_table, git_revision, machine_note, write_result
from catalogue.models import Department, Resource, ResourceVersion, System
from catalogue.vocabulary import SystemStatus
from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work
from exchange.scorecards.compute import month_range, recent_months, scorecards, trend
from exchange.scorecards.report import csv_of, csv_report
from exchange.scorecards.stored import month_cards, month_trend, store_closed_months

MONTH = "2026-10"
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # the month has ended
START = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)  # 2026-10-01 00:00 China time
CHUNK = 20_000
TREND_MONTHS = 6


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000, help="access entries in the month")
    parser.add_argument("--repeat", type=int, default=5, help="timed turns of each operation")
    return parser.parse_args(argv)


def load(sessions: sessionmaker[Session], entries: int) -> None:
    """The catalogue the entries name, and *entries* access entries spread over the month."""
    providers = {code.split("-")[0] for code in RESOURCES.values()}
    consumers = {department for _, department, *_ in SYSTEMS}
    with unit_of_work(sessions, write=True) as session:
        for code in sorted(providers | consumers):
            session.add(
                Department(
                    code=code, name=code, digest="0" * 64, created_at=START, updated_at=START
                )
            )
        session.flush()
        for system, department, purpose, *_ in SYSTEMS:
            session.add(
                System(
                    id=system,
                    department_code=department,
                    name=system,
                    status=SystemStatus.ACTIVE,
                    purposes=[purpose],
                    created_at=START,
                    updated_at=START,
                )
            )
        for namespace, code in RESOURCES.items():
            session.add(
                Resource(
                    code=code,
                    namespace=namespace,
                    provider_code=code.split("-")[0],
                    latest_version=1,
                    created_at=START,
                    updated_at=START,
                )
            )
            session.flush()
            session.add(
                ResourceVersion(
                    resource_code=code,
                    version=1,
                    descriptor={"code": code, "update_frequency": "daily"},
                    digest="0" * 64,
                    diff={},
                    published_at=START,
                    published_by="bench",
                )
            )
    spread = timedelta(days=30) / max(entries, 1)
    for first in range(0, entries, CHUNK):
        rows = [
            record_row(n, synthetic_entry(n), START + spread * n)
            for n in range(first, min(first + CHUNK, entries))
        ]
        with unit_of_work(sessions, write=True) as session:
            session.execute(insert(ENTRIES), rows)


def before_page(sessions: sessionmaker[Session]) -> dict[str, Any]:
    month = month_range(MONTH, NOW)
    months = [month_range(m, NOW) for m in recent_months(MONTH, TREND_MONTHS)]
    with unit_of_work(sessions) as session:
        return {**scorecards(session, month).as_json(), "trend": trend(session, months)}


def before_csv(sessions: sessionmaker[Session]) -> str:
    with unit_of_work(sessions) as session:
        return csv_report(scorecards(session, month_range(MONTH, NOW)))


def after_page(sessions: sessionmaker[Session]) -> dict[str, Any]:
    months = [month_range(m, NOW) for m in recent_months(MONTH, TREND_MONTHS)]
    cards = month_cards(sessions, month_range(MONTH, NOW), NOW)
    return {**cards, "trend": month_trend(sessions, months)}


def after_csv(sessions: sessionmaker[Session]) -> str:
    return csv_of(month_cards(sessions, month_range(MONTH, NOW), NOW))


def seconds(operation: Callable[[], object]) -> float:
    start = time.perf_counter()
    operation()
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    load_before, revision = os.getloadavg(), git_revision()
    with tempfile.TemporaryDirectory(prefix="tongban-bench-") as workdir:
        engine = make_engine(f"sqlite:///{Path(workdir) / 'hub.db'}")
        migrate(engine)
        sessions = make_sessionmaker(engine)
        print(f"loading {args.entries:,} access entries into {MONTH}", file=sys.stderr)
        load(sessions, args.entries)
        live = before_page(sessions)
        assert live["city"]["use"]["accesses"] == args.entries, live["city"]["use"]
        samples: dict[str, list[float]] = {"page, counted": [], "csv, counted": []}
        for _ in range(args.repeat):
            samples["page, counted"].append(seconds(lambda: before_page(sessions)))
            samples["csv, counted"].append(seconds(lambda: before_csv(sessions)))
        first_store = seconds(lambda: after_page(sessions))
        store_closed_months(sessions, NOW, count=TREND_MONTHS)  # the job kept the months before
        assert after_page(sessions) == live  # the stored answer is the counted one
        assert after_csv(sessions) == before_csv(sessions)
        samples |= {"page, stored": [], "csv, stored": []}
        for _ in range(args.repeat):
            samples["page, stored"].append(seconds(lambda: after_page(sessions)))
            samples["csv, stored"].append(seconds(lambda: after_csv(sessions)))
        engine.dispose()
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    rows = [[name, f"{ms:,.1f}"] for name, ms in medians.items()]
    rows.append(["first request of the month (computes and stores)", f"{first_store * 1000:,.1f}"])
    print(format_table(["operation", "median ms"], rows))
    path = write_result(
        "scorecards",
        {
            "revision": revision,
            "machine": machine_note(),
            "load_before": load_before,
            "entries": args.entries,
            "repeat": args.repeat,
            "median_ms": medians,
            "first_store_ms": first_store * 1000,
        },
    )
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
