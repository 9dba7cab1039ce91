"""A newcomer's first hour (issue 19): ``tongban demo`` and ``tongban serve`` as they are typed.

A demo directory is served by ``tongban serve --data DIR`` from anywhere, with no environment
variable to know; a hub with nothing bound says so at start and in ``/readyz``; a demo is built
whole or not at all, and a second one over the first is refused before anything is written;
the port is checked before anything is touched (``tongban serve`` and ``./dev demo``); a
master secret that is not the database's stops the hub at start, not its first query.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from exchange.app import create_app
from exchange.hub import Hub
from exchange.settings import Settings, SettingsError
from tests.commands import tongban_in_process
from tests.servers import TONGBAN, dev_environment, free_port, hub_environment

ROOT = Path(__file__).resolve().parents[1]
CITIZENS = "60"
OTHER_SECRET = "another-secret-of-this-hub-" + "Qx7pL2vN9wR4tY6uZ1aB3cD5eF8gH0jK"


def tongban(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """The installed ``tongban`` script in ``cwd``, as a user runs it."""
    return subprocess.run(
        [TONGBAN, *args],
        cwd=cwd,
        env=dict(env if env is not None else dev_environment()),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def built(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = tongban(cwd, "demo", "--citizens", CITIZENS, *args)
    assert result.returncode == 0, result.stderr
    return result


def files_of(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``directory`` with its size and modification time."""
    return {
        str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@dataclass
class Served:
    base: str
    process: subprocess.Popen[str]
    stdout: Path
    stderr: Path

    def said(self) -> str:
        return self.stdout.read_text("utf-8") + self.stderr.read_text("utf-8")


@contextmanager
def serving(
    cwd: Path, *args: str, env: Mapping[str, str], command: tuple[str, ...] = (TONGBAN, "serve")
) -> Iterator[Served]:
    """``command ARGS --port P`` in ``cwd`` until ``/healthz`` answers; stopped afterwards."""
    port = free_port()
    logs = cwd / f".serve-{port}"
    logs.mkdir()
    stdout, stderr = logs / "stdout", logs / "stderr"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            [*command, *args, "--port", str(port)],
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    served = Served(f"http://127.0.0.1:{port}", process, stdout, stderr)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the hub exited ({process.returncode}): {served.said()[-2000:]}")
            try:
                if httpx.get(f"{served.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"the hub did not come up: {served.said()[-2000:]}")
        yield served
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(logs, ignore_errors=True)


@contextmanager
def listening() -> Iterator[int]:
    """A loopback port something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def readyz(base: str) -> httpx.Response:
    return httpx.get(f"{base}/readyz", timeout=10)


# -- a demo directory is served without knowing an environment variable ---------------------


def test_a_demo_directory_is_served_from_anywhere_with_serve_data(tmp_path: Path) -> None:
    clone, elsewhere = tmp_path / "clone", tmp_path / "elsewhere"
    clone.mkdir()
    elsewhere.mkdir()
    result = built(clone, "--data", "mydemo")
    assert "tongban serve --data mydemo" in result.stdout
    demo_dir = clone / "mydemo"
    assert {"tongban.toml", "tongban.db", "secret.key", "adapters.json", "demo.json"} <= {
        p.name for p in demo_dir.iterdir()
    }
    # No TONGBAN_* variable at all: the demo directory's tongban.toml is the configuration.
    with serving(elsewhere, "--data", str(demo_dir), env=hub_environment()) as hub:
        ready = readyz(hub.base)
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert ready.json()["checks"]["source_bindings"] == {
            "status": "ok",
            "published": 7,
            "bound": 7,
        }
        assert "all 7 published resources are bound" in hub.said()
    assert not any(elsewhere.iterdir())  # serving wrote nothing where it was started


def test_serve_data_names_a_directory_without_a_demo_in_one_line(tmp_path: Path) -> None:
    result = tongban(tmp_path, "serve", "--data", "nothing-here", env=hub_environment())
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "holds no demo installation" in result.stderr
    assert "tongban demo --data nothing-here" in result.stderr


def test_a_second_demo_elsewhere_in_a_clone_with_a_demo_gets_its_own_database(
    tmp_path: Path,
) -> None:
    built(tmp_path)  # the default: ./var/demo, ./var/tongban.db, ./tongban.toml
    second = built(tmp_path, "--data", "second")  # once failed half-way: "kid in use"
    assert "database sqlite:///second/tongban.db" in second.stdout
    with serving(tmp_path, "--data", "second", env=hub_environment()) as hub:
        assert readyz(hub.base).json()["status"] == "ready"
    with serving(tmp_path, env=hub_environment()) as hub:
        assert readyz(hub.base).json()["status"] == "ready"  # the first one, as before


# -- a demo is whole or nothing ---------------------------------------------------------------


def test_a_second_demo_over_one_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    built(tmp_path)
    built(tmp_path, "--data", "own")
    before = files_of(tmp_path)
    for args in ((), ("--data", "own")):
        again = tongban(tmp_path, "demo", "--citizens", CITIZENS, *args)
        assert again.returncode == 1
        assert again.stderr.count("\n") == 1
        assert "already holds a demo; nothing was changed" in again.stderr
        assert files_of(tmp_path) == before


def test_a_demo_into_a_database_that_holds_a_demo_is_refused(tmp_path: Path) -> None:
    built(tmp_path)
    shutil.rmtree(tmp_path / "var/demo")  # the directory gone, its systems still registered
    before = files_of(tmp_path)
    again = tongban(tmp_path, "demo", "--citizens", CITIZENS)
    assert again.returncode == 1
    assert "already holds a demo's case systems" in again.stderr
    assert files_of(tmp_path) == before


def test_a_demo_that_fails_half_way_leaves_nothing_behind(tmp_path: Path) -> None:
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = tongban(tmp_path, "demo", "--citizens", CITIZENS, "--hrss-url", unreachable)
    assert result.returncode == 1
    assert result.stderr.startswith("tongban: database error")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "database", "keys"),
    [
        ((), "var/tongban.db", "var/demo/keys"),
        (("--data", "own"), "own/tongban.db", "own/keys"),
    ],
)
def test_a_demo_that_fails_after_its_database_is_written_removes_it_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], database: str, keys: str
) -> None:
    from exchange.cli import sync
    from exchange.sources.errors import AdapterConfigError

    def failing_sync(*_args: Any, **_kwargs: Any) -> list[dict[str, object]]:
        assert (tmp_path / database).is_file()  # the catalogue and the systems are in
        assert (tmp_path / keys / "edu-enrolment.jwk").is_file()
        raise AdapterConfigError("the cache sync failed")

    monkeypatch.setattr(sync, "sync_cached", failing_sync)
    result = tongban_in_process(
        tmp_path, "demo", "--citizens", CITIZENS, *args, env=dev_environment()
    )
    assert result.returncode == 1
    assert "the cache sync failed" in result.stderr
    assert list(tmp_path.iterdir()) == []  # database, secret, keys, stores: all gone


def test_a_failed_demo_into_an_empty_directory_leaves_the_directory_empty(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = tongban(
        tmp_path, "demo", "--citizens", CITIZENS, "--data", "mine", "--psb-url", unreachable
    )
    assert result.returncode == 1
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]
    assert list((tmp_path / "mine").iterdir()) == []


# -- the port first; an empty hub says so; a hub bound to nothing is not ready ----------------


def test_serve_refuses_a_taken_port_before_touching_anything(tmp_path: Path) -> None:
    with listening() as port:
        result = tongban(tmp_path, "serve", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no secret generated, no database made


def test_serve_in_an_empty_directory_says_it_serves_an_empty_hub(tmp_path: Path) -> None:
    with serving(tmp_path, env=dev_environment()) as hub:
        ready = readyz(hub.base)
        assert ready.status_code == 200
        assert ready.json()["checks"]["source_bindings"]["status"] == "empty"
        assert "Serving an empty hub" in hub.said()


def test_serve_with_nothing_configured_says_what_to_do_in_one_line(tmp_path: Path) -> None:
    result = tongban(tmp_path, "serve", env=hub_environment())  # prod, by default
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "TONGBAN_SECRET_KEY" in result.stderr
    assert "Nothing is configured here" in result.stderr
    assert "TONGBAN_MODE=dev tongban serve" in result.stderr


def test_a_hub_whose_resources_are_bound_to_nothing_warns_and_is_not_ready(
    tmp_path: Path,
) -> None:
    built(tmp_path, "--data", "mydemo")
    unbound = dev_environment(TONGBAN_ADAPTERS_FILE=str(tmp_path / "no-such-adapters.json"))
    with serving(tmp_path, "--data", "mydemo", env=unbound) as hub:
        ready = readyz(hub.base)
        assert ready.status_code == 503
        body = ready.json()
        assert body["code"] == "not_ready"
        assert "no published resource is bound to a source" in body["detail"]
        assert body["checks"]["source_bindings"] == {"status": "none", "published": 7, "bound": 0}
        assert "WARNING: no source is bound" in hub.stderr.read_text("utf-8")


# -- ./dev demo -------------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout with ``./dev`` and this venv (installed: ``./dev`` installs nothing)."""
    (tmp_path / "dev").write_bytes((ROOT / "dev").read_bytes())
    (tmp_path / "dev").chmod(0o755)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def test_dev_demo_checks_the_port_before_building_anything(checkout: Path) -> None:
    with listening() as port:
        result = subprocess.run(
            ["./dev", "demo", "--citizens", CITIZENS, "--port", str(port)],
            cwd=checkout,
            env=hub_environment(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode != 0
    assert f"dev: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert sorted(p.name for p in checkout.iterdir()) == [".venv", "dev"]


def test_dev_demo_serves_on_the_port_asked_and_serves_it_again(checkout: Path) -> None:
    dev = ("./dev", "demo")
    for attempt in ("builds", "reuses"):
        with serving(
            checkout, "--citizens", CITIZENS, "--data", "d", env=hub_environment(), command=dev
        ) as hub:
            assert readyz(hub.base).json()["status"] == "ready", attempt
            manifest = json.loads((checkout / "d/demo.json").read_text("utf-8"))
            assert manifest["systems"]
            if attempt == "reuses":
                assert "d holds a demo already: serving it" in hub.said()


# -- a master secret that is not the database's ---------------------------------------------


def test_serve_refuses_a_changed_master_secret_in_one_line(tmp_path: Path) -> None:
    built(tmp_path)
    changed = hub_environment(
        TONGBAN_MODE="prod",
        TONGBAN_SECRET_KEY=OTHER_SECRET,
        TONGBAN_PUBLIC_URL="https://tongban.example.gov.cn",
    )
    result = tongban(tmp_path, "serve", "--port", str(free_port()), env=changed)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "is not the one this hub's database was built with" in result.stderr
    assert OTHER_SECRET not in result.stderr


def test_every_command_refuses_a_changed_master_secret(tmp_path: Path) -> None:
    built(tmp_path)
    result = tongban(
        tmp_path, "catalogue", "search", env=dev_environment(TONGBAN_SECRET_KEY=OTHER_SECRET)
    )
    assert result.returncode == 1
    assert "is not the one this hub's database was built with" in result.stderr


def _hub(database_url: str, secret: str) -> Hub:
    settings = Settings(mode="dev", database_url=database_url, secret_key=SecretStr(secret))
    return Hub.from_settings(settings)


def test_readyz_fails_at_start_under_another_secret_not_at_the_first_query(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    with _hub(url, "the-secret-the-hub-was-built-with-" + "x1y2z3" * 4) as first:
        first.migrate()
        first.check_secret()  # a new database records its check value at first start
    with TestClient(create_app(hub=_hub(url, OTHER_SECRET))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["code"] == "not_ready"
        assert "not the one this hub's database was built with" in ready.json()["detail"]


def test_a_database_from_before_the_check_value_is_checked_by_its_stored_key(
    tmp_path: Path,
) -> None:
    from sqlalchemy import delete

    from exchange.db import unit_of_work
    from exchange.security.models import HubSecretCheck

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    built_with = "the-secret-the-hub-was-built-with-" + "x1y2z3" * 4
    with _hub(url, built_with) as hub:
        hub.migrate()
        with unit_of_work(hub.sessions, write=True) as session:
            hub.keys.current(session)  # a signing key, wrapped under the secret
            session.execute(delete(HubSecretCheck))  # as migrated from 0015: no check value
    with _hub(url, OTHER_SECRET) as other, pytest.raises(SettingsError, match="not the one"):
        other.check_secret()
    with _hub(url, built_with) as same:
        same.check_secret()  # opens the key, and records the check value
    with _hub(url, OTHER_SECRET) as other, pytest.raises(SettingsError, match="not the one"):
        other.check_secret()
