"""The restore drill of docs/deployment.md, run against the real PostgreSQL of the machine.

A hub serves the demo world from a PostgreSQL database, as a serving role that owns nothing
(docs/deployment-database.md), and answers queries; a backup is taken while it serves
(``pg_dump -Fc``, as the tables' owner); the hub answers more queries, and a verifier keeps the
larger log (``tongban audit verify --state``), as do a receipt and a signed checkpoint; then the
dump is restored into a fresh database (``pg_restore``, as the owner) and a hub is served from it
as the serving role, with the grants the dump brought back. The restored hub must verify
(``tongban audit verify``), answer a query, and hold exactly the audit log of the backup; and
everything that saw the larger log must now contradict it: the state file, the receipt's
checkpoint and the held checkpoint are reported ``shrink``.

The SQLite drill does the same with the online backup API (what ``sqlite3 DB ".backup FILE"``
uses), taken while the hub serves.
"""

# The tables compared are the schema's own names, read from the database.
# ruff: noqa: S608

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from exchange.db import SERVING_ROLE_ENV
from tests.conftest import POSTGRES_ENV, missing, throwaway_database
from tests.servers import (
    TONGBAN,
    DemoHub,
    build_demo,
    demo_hub,
    dev_environment,
    free_port,
    serving,
)

pytestmark = pytest.mark.serves

PURPOSE = "school-enrolment"
SERVICE_ITEM = "EDU-RXDJ-001"
OFFICER = "EDU-0042"


def libpq(url: str) -> str:
    """The SQLAlchemy URL as libpq (``pg_dump``, ``pg_restore``) takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def serving_role() -> Iterator[str]:
    """A throwaway login role that owns nothing: the hub's serving role (deployment-database.md);
    the URL's own user (the tables' owner) takes the backups and restores."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        missing(f"the PostgreSQL restore drill needs {POSTGRES_ENV}")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    role = f"tongban_drill_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        yield role
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


def as_role(url: str, role: str) -> str:
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


@contextmanager
def postgres_demo(workdir: Path, owner_url: str, role: str) -> Iterator[DemoHub]:
    """The demo world migrated by the owner with ``role`` as its serving role, served as it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workdir.mkdir()
    settings = {
        "TONGBAN_DATABASE_URL": owner_url,
        "TONGBAN_PUBLIC_URL": base,
        SERVING_ROLE_ENV: role,
    }
    build_demo(workdir, citizens=150, **settings)
    manifest = json.loads((workdir / "var/demo/demo.json").read_text("utf-8"))
    env = dev_environment(TONGBAN_DATABASE_URL=as_role(owner_url, role), TONGBAN_PUBLIC_URL=base)
    with serving(workdir, env, port=port):
        yield DemoHub(base, workdir, manifest)


def tongban(hub: DemoHub, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``tongban ARGS`` in the hub's installation, on ``database_url``."""
    return subprocess.run(
        [TONGBAN, *args],
        cwd=hub.workdir,
        env=dev_environment(TONGBAN_DATABASE_URL=database_url, TONGBAN_PUBLIC_URL=hub.base),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ask(hub: DemoHub, times: int) -> list[Any]:
    """``times`` answered queries of the school-enrolment bundle; their audit receipts."""
    subjects = [s["id"] for s in hub.manifest["subjects"]]
    receipts = []
    with hub.client() as client:
        for subject in subjects[:times]:
            result = client.query(subject, PURPOSE, service_item=SERVICE_ITEM, officer=OFFICER)
            receipts.append(result.audit)
    return receipts


def audit_log(connection: sa.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ``audit_*`` table (entries, nodes, head, checkpoints, cosignatures,
    witnesses, the subject map), sorted."""
    names = sa.inspect(connection).get_table_names()
    return {
        name: sorted(
            (tuple(row) for row in connection.execute(sa.text(f"SELECT * FROM {name}"))), key=repr
        )
        for name in sorted(names)
        if name.startswith("audit_")
    }


@contextmanager
def served_again(hub: DemoHub, database_url: str) -> Iterator[DemoHub]:
    """The same installation (master secret, adapters file, keys) served on another database."""
    env = dev_environment(TONGBAN_DATABASE_URL=database_url)
    with serving(hub.workdir, env) as base:
        yield DemoHub(base, hub.workdir, hub.manifest)


def test_a_postgresql_backup_restores_into_a_fresh_database_with_exactly_its_audit_log(
    tmp_path: Path,
) -> None:
    """Owner and serving role as deployment-database.md has them: the owner migrates, dumps
    and restores; the hub serves and verifies as the serving role, on the restored database
    too, with the grants the dump brought back."""
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if pg_dump is None or pg_restore is None:
        missing("the restore drill needs pg_dump and pg_restore (Debian: postgresql-client)")
    dump = tmp_path / "tongban.dump"
    with (
        serving_role() as role,
        throwaway_database(POSTGRES_ENV, "the PostgreSQL restore drill") as live_url,
        throwaway_database(POSTGRES_ENV, "the PostgreSQL restore drill") as restored_url,
    ):
        live = sa.create_engine(live_url, poolclass=NullPool)
        with postgres_demo(tmp_path / "hub", live_url, role) as hub:
            served = as_role(live_url, role)
            ask(hub, 3)
            # pg_dump -Fc as the owner while the hub serves, from a snapshot exported by a
            # transaction that reads the audit log as the dump has it.
            with live.connect().execution_options(isolation_level="REPEATABLE READ") as reading:
                snapshot = reading.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
                subprocess.run(
                    [pg_dump, "-Fc", f"--snapshot={snapshot}", f"--file={dump}", libpq(live_url)],
                    check=True,
                    timeout=120,
                )
                backed_up = audit_log(reading)
            size_at_backup = len(backed_up["audit_entries"])
            assert size_at_backup >= 3

            # After the backup: more answers, a verifier's state, a receipt, a checkpoint.
            later = ask(hub, 2)
            state = tmp_path / "audit-verify.note"
            verified = tongban(hub, served, "audit", "verify", "--state", str(state))
            assert verified.returncode == 0, verified.stderr
            signed = tongban(hub, served, "audit", "checkpoint")
            assert signed.returncode == 0, signed.stderr
            held = tmp_path / "checkpoint.note"
            held.write_text(signed.stdout, "utf-8")
            receipt = tmp_path / "receipt.note"
            receipt.write_text(later[-1].checkpoint, "utf-8")
            assert later[-1].tree_size > size_at_backup
        live.dispose()

        into = libpq(restored_url)
        restore = subprocess.run(
            [pg_restore, "--exit-on-error", "--single-transaction", f"--dbname={into}", str(dump)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert restore.returncode == 0, restore.stderr

        restored = sa.create_engine(restored_url, poolclass=NullPool)
        with restored.connect() as connection:
            log = audit_log(connection)
        restored.dispose()
        assert len(log["audit_entries"]) == size_at_backup
        assert log == backed_up

        serving_restored = as_role(restored_url, role)
        verified = tongban(hub, serving_restored, "audit", "verify")
        assert verified.returncode == 0, verified.stderr
        assert f"{size_at_backup} entries" in verified.stdout

        # Everything that saw the larger log contradicts the restored one.
        for note in (state, held, receipt):
            option = "--state" if note == state else "--checkpoint"
            contradicted = tongban(hub, serving_restored, "audit", "verify", option, str(note))
            assert contradicted.returncode == 1, (note, contradicted.stdout)
            assert "shrink:" in contradicted.stdout, contradicted.stdout
        assert state.read_text("utf-8").splitlines()[1] == str(size_at_backup + 2)

        with served_again(hub, serving_restored) as again:
            (answered,) = ask(again, 1)
            assert answered.index == size_at_backup
            assert tongban(again, serving_restored, "audit", "verify").returncode == 0


def test_a_sqlite_online_backup_taken_while_serving_restores_with_its_audit_log(
    tmp_path: Path,
) -> None:
    with demo_hub(tmp_path / "hub") as hub:
        ask(hub, 2)
        database = hub.workdir / "var/tongban.db"
        backup = tmp_path / "backup.db"
        # One read transaction for what is compared and what is copied.
        source, target = sqlite3.connect(database), sqlite3.connect(backup)
        try:
            source.execute("BEGIN")
            backed_up = audit_log_sqlite(source)
            source.backup(target)
        finally:
            source.close()
            target.close()
        later = ask(hub, 1)
        assert later[0].tree_size > len(backed_up["audit_entries"])

    restored_url = f"sqlite:///{backup}"
    connection = sqlite3.connect(backup)
    try:
        assert audit_log_sqlite(connection) == backed_up
    finally:
        connection.close()
    verified = tongban(hub, restored_url, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    with served_again(hub, restored_url) as again:
        (answered,) = ask(again, 1)
        assert answered.index == len(backed_up["audit_entries"])


def audit_log_sqlite(connection: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    names = [
        name
        for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    ]
    return {
        name: sorted(connection.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
        for name in sorted(names)
        if name.startswith("audit_")
    }
