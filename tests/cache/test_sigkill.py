"""A ``tongban sync`` killed with SIGKILL halfway through resumes from its watermark: after the
resumed run the cache holds exactly the source (no row lost, none twice), on SQLite and
PostgreSQL hub databases. The source's watermarks repeat (groups of 7 rows share one), so
batch boundaries of 1000 rows fall inside runs of equal watermarks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from exchange.db import unit_of_work
from exchange.sources.cache.crypto import CacheCrypto
from tests import factories
from tests.cache.conftest import RESOURCE, LegacyTable, adapters_document, cache_contents
from tests.servers import dev_environment

TONGBAN = shutil.which("tongban", path=str(Path(sys.executable).parent)) or "tongban"
ROWS = 50_000
KILL_AFTER = 5_000


def _environment(database_url: str, adapters: Path) -> dict[str, str]:
    inherited = dev_environment(TONGBAN_SECRET_KEY=factories.dev_secret())  # the tests' crypto
    return {
        **inherited,
        "TONGBAN_DATABASE_URL": database_url,
        "TONGBAN_ADAPTERS_FILE": str(adapters),
    }


def _committed_rows(sessions: sessionmaker[Session]) -> int:
    with unit_of_work(sessions) as session:
        rows = session.execute(
            text("SELECT rows FROM cache_sync_state WHERE resource = :r"), {"r": RESOURCE}
        ).scalar()
    return int(rows or 0)


def test_a_sync_killed_halfway_resumes_without_loss_or_duplicates(
    database_url: str,
    sessions: sessionmaker[Session],
    legacy: LegacyTable,
    crypto: CacheCrypto,
    demo_catalogue: None,
    tmp_path: Path,
) -> None:
    legacy.insert(
        [(f"S{i:07d}", "1234"[i % 4], i % 600, f"单位{i % 997}", i // 7) for i in range(ROWS)]
    )
    adapters = tmp_path / "adapters.json"
    adapters.write_text(json.dumps(adapters_document(legacy.url)), "utf-8")
    environment = _environment(database_url, adapters)

    process = subprocess.Popen(
        [TONGBAN, "sync", RESOURCE],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while _committed_rows(sessions) < KILL_AFTER:
        assert process.poll() is None, "the sync ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL

    with unit_of_work(sessions) as session:
        status, watermark = session.execute(
            text("SELECT status, watermark FROM cache_sync_state WHERE resource = :r"),
            {"r": RESOURCE},
        ).one()
    assert status == "running"  # killed: no success was recorded
    partial = cache_contents(sessions, crypto)
    assert KILL_AFTER <= len(partial) < ROWS

    resumed = subprocess.run(
        [TONGBAN, "sync", RESOURCE, "--json"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert watermark is not None
    assert summary["resumed_from"] == watermark
    assert summary["written"] < ROWS  # it went on from the watermark, not from the start
    assert cache_contents(sessions, crypto) == legacy.expected(crypto)
    with unit_of_work(sessions) as session:
        stored = session.execute(
            text("SELECT count(*) FROM cache_records WHERE resource = :r"), {"r": RESOURCE}
        ).scalar()
    assert stored == ROWS
