"""Attack: read the hub's files as another user of the host.

The review found the hub database (with its WAL and SHM), ``var/``, the demo's legacy stores (the
departments' citizen records: SQLite files, the GBK CSV, the fixed-width export), adapters.json,
the case systems' private keys, demo.json and key-custody shares all 0644 / 0755. Every file the
hub or ``tongban`` writes must be 0600 and every directory it makes 0700: through the command
line (which also sets a 077 umask) and through the library, under a permissive umask, where no
umask helps.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work
from exchange.demo.build import build_demo as build_demo_world
from exchange.demo.sources import build_legacy_world
from tests.databases import dev_keys
from tests.servers import TONGBAN, DemoHub, build_demo, dev_environment, serving


def exposed(root: Path) -> list[str]:
    """Everything under *root* (itself excluded) that a group or other user can get at."""
    found = []
    for path in sorted(root.rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        if mode & 0o077:
            found.append(f"{stat.filemode(mode)} {path.relative_to(root)}")
    return found


@contextmanager
def permissive_umask() -> Iterator[None]:
    """A umask of 022, as most shells have: files 0644 and directories 0755 unless the code
    asks for less."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.serves
def test_the_demo_leaves_nothing_other_users_can_read(tmp_path: Path) -> None:
    build_demo(tmp_path, citizens=50)
    made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    # The files the review named are there, and so checked.
    assert {
        "var",
        "var/tongban.db",
        "var/demo/demo.json",
        "var/demo/adapters.json",
        "var/demo/keys/edu-enrolment.jwk",
        "var/demo/legacy/mca/dibao.csv",
        "var/demo/legacy/reg/BDC_FWSYQ.txt",
        "var/demo/legacy/psb.sqlite",
    } <= made
    assert exposed(tmp_path) == []


@pytest.mark.serves
def test_a_serving_hub_keeps_its_database_wal_and_shm_owner_only(tmp_path: Path) -> None:
    build_demo(tmp_path, citizens=50)
    manifest = json.loads((tmp_path / "var/demo/demo.json").read_text("utf-8"))
    subject = next(s["id"] for s in manifest["subjects"] if s["kind"] == "has_property")
    with serving(tmp_path, dev_environment()) as base:
        token = DemoHub(base, tmp_path, manifest).system_token()  # 200, or it raises
        answer = httpx.post(
            f"{base}/exchange/query",
            json={
                "subject": {"id_type": "CN-RIC", "id": subject},
                "purpose": "school-enrolment",
                "attributes": ["property.certificate_no"],
            },
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        # While the hub runs, its WAL and shared-memory files are there: check them then.
        database = tmp_path / "var/tongban.db"
        side_files = [Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert all(p.exists() for p in side_files)
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (database, *side_files)}
        running = exposed(tmp_path)
    assert modes == {"tongban.db": 0o600, "tongban.db-wal": 0o600, "tongban.db-shm": 0o600}
    assert running == []
    assert exposed(tmp_path) == []


def test_an_embedded_hub_database_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    """A library embedding the hub (``create_app``, tests) sets no umask: the modes come from
    the code itself."""
    database = tmp_path / "var" / "hub" / "tongban.db"
    with permissive_umask():
        engine = make_engine(f"sqlite:///{database}")
        try:
            migrate(engine)
            with unit_of_work(make_sessionmaker(engine), write=True) as session:
                session.execute(text("UPDATE audit_head SET updated_at = updated_at"))
            side_files = [Path(f"{database}-wal"), Path(f"{database}-shm")]
            assert all(p.exists() for p in side_files)
            found = exposed(tmp_path)
        finally:
            engine.dispose()
    assert found == []


def test_an_older_hubs_readable_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "tongban.db"
    database.touch(mode=0o644)
    Path(f"{database}-wal").touch(mode=0o644)
    os.chmod(database, 0o644)
    os.chmod(f"{database}-wal", 0o644)
    engine = make_engine(f"sqlite:///{database}")
    engine.dispose()
    assert exposed(tmp_path) == []


def test_the_demo_stores_and_keys_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "var" / "demo"
    database = tmp_path / "var" / "tongban.db"
    with permissive_umask():
        build_legacy_world(data, citizens=20, seed=7)
        engine = make_engine(f"sqlite:///{database}")
        try:
            migrate(engine)
            with unit_of_work(make_sessionmaker(engine), write=True) as session:
                build_demo_world(session, data, now=datetime.now(UTC), keys=dev_keys())
        finally:
            engine.dispose()
        found = exposed(tmp_path)
    assert (data / "demo.json").exists()
    assert (data / "keys" / "mca-dibao.jwk").exists()
    assert found == []


@pytest.mark.serves
def test_key_custody_shares_are_owner_only(tmp_path: Path) -> None:
    secret = tmp_path / "secret.key"
    secret.write_text(os.urandom(32).hex() + "\n", encoding="utf-8")
    out = tmp_path / "custody" / "shares"
    split = subprocess.run(
        [
            TONGBAN,
            "keys",
            "split",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--secret-file",
            str(secret),
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=dev_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert split.returncode == 0, split.stderr
    assert len(list(out.glob("share-*-of-3.txt"))) == 3
    secret.chmod(0o600)  # the test's own input, written under the test runner's umask
    assert exposed(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_owner_only_directories_are_0700_under_any_umask(tmp_path: Path, umask: int) -> None:
    from exchange.files import owner_only_directory, write_owner_only

    previous = os.umask(umask)
    try:
        owner_only_directory(tmp_path / "a" / "b" / "c")
        write_owner_only(tmp_path / "a" / "b" / "c" / "f.json", "{}")
    finally:
        os.umask(previous)
    assert exposed(tmp_path) == []
