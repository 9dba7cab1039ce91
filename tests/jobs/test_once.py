"""Each job runs once per scheduled time, however many hub workers schedule it: two real
worker processes on one database (SQLite and PostgreSQL), a job every second that appends its
scheduled time; no time runs twice, none is skipped while a worker lives, and when one worker
stops the other carries on."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tick_table(database_url: str) -> Iterator[tuple[Engine, str]]:
    """A table of its own (other helpers share the PostgreSQL server) for the ticks."""
    table = f"tick_{uuid.uuid4().hex[:10]}"
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {table} (slot FLOAT NOT NULL, pid INTEGER)"))
    yield engine, table
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {table}"))
    engine.dispose()


def _start(database_url: str, table: str) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.jobs.tick_worker", database_url, table],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "ready"
    return worker


def _stop(worker: subprocess.Popen[str]) -> float:
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    return time.time()


def test_two_workers_run_each_scheduled_time_once(
    database_url: str, tick_table: tuple[Engine, str]
) -> None:
    engine, table = tick_table
    first = _start(database_url, table)
    second = _start(database_url, table)
    try:
        time.sleep(6)
        first_gone = _stop(first)
        time.sleep(4)
    finally:
        for worker in (first, second):
            if worker.poll() is None:
                _stop(worker)
    with engine.connect() as connection:
        query = f"SELECT slot, pid FROM {table} ORDER BY slot"  # noqa: S608 - our own name
        ticks = connection.execute(text(query)).all()
        claims = connection.execute(
            text("SELECT COUNT(*) FROM job_runs WHERE job_id = 'test.tick' AND final")
        ).scalar_one()
    slots = [slot for slot, _ in ticks]
    assert len(slots) >= 8, ticks
    assert len(set(slots)) == len(slots), "a scheduled time ran twice"
    assert [b - a for a, b in itertools.pairwise(slots)] == [1.0] * (len(slots) - 1), (
        "a scheduled time was skipped"
    )
    assert claims == len(slots)
    after = [pid for slot, pid in ticks if slot > first_gone + 1]
    assert after, "the remaining worker stopped running the job"
    assert set(after) == {second.pid}
