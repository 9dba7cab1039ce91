"""A hub worker for the once-only test: a scheduler whose only job, ``test.tick``, runs every
second and appends (its scheduled time, this process id) to a table the test made.

Run as ``python -m tests.jobs.tick_worker DATABASE_URL TABLE``; stops on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from sqlalchemy import text

from exchange.db import make_engine, make_sessionmaker, unit_of_work
from exchange.jobs.scheduler import HubScheduler
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec
from exchange.settings import Settings


def main(url: str, table: str) -> None:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)

    def tick(context: JobContext) -> JobOutcome:
        assert context.scheduled_for is not None
        with unit_of_work(sessions, write=True) as session:
            session.execute(
                text(f"INSERT INTO {table} (slot, pid) VALUES (:slot, :pid)"),  # noqa: S608
                {"slot": context.scheduled_for.timestamp(), "pid": os.getpid()},
            )
        return JobOutcome(rows=1)

    spec = JobSpec("test.tick", "append the scheduled time", tick, every_s=1)
    settings = Settings(database_url=url, adapters_file=None)
    scheduler = HubScheduler(settings, engine, sessions, [spec])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler.start()
    print("ready", flush=True)
    stop.wait()
    scheduler.shutdown()
    engine.dispose()
    print("stopped", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
