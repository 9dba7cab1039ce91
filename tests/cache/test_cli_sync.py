"""``tongban sync`` as a user runs it: help, a summary or JSON, one-line failures, exit codes.

The help comes from the installed script in a subprocess; the syncs run in this process
(:mod:`tests.commands`), the same code without an interpreter start-up each."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from exchange.sources.cache.crypto import CacheCrypto
from tests import factories
from tests.cache.conftest import RESOURCE, LegacyTable, adapters_document, cache_contents
from tests.commands import tongban_in_process
from tests.servers import dev_environment

TONGBAN = shutil.which("tongban", path=str(Path(sys.executable).parent)) or "tongban"


def _run(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inherited = dev_environment(TONGBAN_SECRET_KEY=factories.dev_secret())  # the tests' crypto
    return subprocess.run(
        [TONGBAN, *args],
        cwd=cwd,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _here(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """:func:`_run` in this process."""
    inherited = dev_environment(TONGBAN_SECRET_KEY=factories.dev_secret())
    return tongban_in_process(cwd, *args, env={**inherited, **env})


def test_help_names_the_options(tmp_path: Path) -> None:
    result = _run(tmp_path, "sync", "--help", env={})
    assert result.returncode == 0
    assert "--full" in result.stdout
    assert "--json" in result.stdout


def test_sync_prints_a_summary_and_json_and_fails_in_one_line(
    database_url: str,
    sessions: sessionmaker[Session],
    legacy: LegacyTable,
    crypto: CacheCrypto,
    demo_catalogue: None,
    tmp_path: Path,
) -> None:
    legacy.insert([(f"S{i}", "1", i, "单位", i) for i in range(30)])
    adapters = tmp_path / "adapters.json"
    adapters.write_text(json.dumps(adapters_document(legacy.url)), "utf-8")
    env = {"TONGBAN_DATABASE_URL": database_url, "TONGBAN_ADAPTERS_FILE": str(adapters)}

    first = _here(tmp_path, "sync", RESOURCE, env=env)
    assert first.returncode == 0, first.stderr
    assert f"synced {RESOURCE} (watermark, from the start): 30 written" in first.stdout
    assert cache_contents(sessions, crypto) == legacy.expected(crypto)
    again = _here(tmp_path, "sync", RESOURCE, "--full", "--json", env=env)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["written"], summary["resumed_from"], summary["watermark"]) == (30, None, "29")

    for resource, reason in (
        ("PSB-HJ-0001", "PSB-HJ-0001 is not bound as a cached resource"),
        ("NO-SUCH-0001", "NO-SUCH-0001 is not bound as a cached resource"),
    ):
        refused = _here(tmp_path, "sync", resource, env=env)
        assert refused.returncode == 1
        assert refused.stderr == f"tongban: {reason}\n"

    legacy.execute("DROP TABLE si")
    failed = _here(tmp_path, "sync", RESOURCE, env=env)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1
    assert failed.stderr.startswith(f"tongban: {RESOURCE}: ")
    assert "S1" not in failed.stderr
