"""Shared fixtures: a migrated hub database per backend, the app, tokens, the demo catalogue.

Tests that take ``database_url`` (directly or through ``sessions``/``client``) run once on
SQLite and once on PostgreSQL. PostgreSQL runs whenever ``TONGBAN_TEST_POSTGRES_URL`` is set
(``.ci/run`` always sets it) and is skipped with that reason otherwise. The database starts as a
*world* built once per session (per xdist worker) and copied: a migrated SQLite file copied for
the test, or the worker's PostgreSQL database restored to the world's rows (tests/databases.py).
Tests that only use sessions take ``rollback_sessions`` instead: a transaction rolled back after
the test. docs/testing.md says how to run the suite.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from exchange.app import create_app
from exchange.audit import merkle, vmap
from exchange.db import make_engine, make_sessionmaker
from exchange.security.identity import Role
from exchange.settings import Settings
from tests.databases import (
    NOW,
    PostgresDatabase,
    RollbackDatabase,
    Worlds,
    missing,
    throwaway_database,
)
from tests.profiles import PROFILE

__all__ = ["MARIADB_ENV", "POSTGRES_ENV", "missing", "throwaway_database"]

# In-process dev hubs generate their installation secret here, not in the checkout's ./var/
# (hubs run as subprocesses get a filtered environment and keep theirs in their own workdir).
os.environ.setdefault(
    "TONGBAN_SECRET_FILE",
    str(Path(tempfile.mkdtemp(prefix="tongban-tests-")) / "secret.key"),
)
# In-process hubs and commands (TestClient, CliRunner) are development installations, as the
# demo is; a hub with no settings at all is prod (tests/security/test_safe_defaults.py).
os.environ.setdefault("TONGBAN_MODE", "dev")
# In-process hubs are reached through Starlette's TestClient, at http://testserver: that is
# their configured public URL (the hub never takes its identity from the Host header).
os.environ.setdefault("TONGBAN_PUBLIC_URL", "http://testserver")
# Under TONGBAN_TEST_CRYPTO_PROFILE=gm every hub of the suite runs under gm (tests/profiles.py);
# hubs run as subprocesses get it from tests.servers.hub_environment. Under intl (the default)
# nothing is set: hubs run on their default profile, as they always have.
if PROFILE != "intl":
    os.environ["TONGBAN_CRYPTO_PROFILE"] = PROFILE

# Every audit entry an in-process hub appends during the suite is checked against its schema.
pytest_plugins = ["tests.plugins.boundary"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

POSTGRES_ENV = "TONGBAN_TEST_POSTGRES_URL"
MARIADB_ENV = "TONGBAN_TEST_MARIADB_URL"
TESTDATA = Path(__file__).resolve().parent / "data"
"""Public test data vendored with its licence notices (``tests/data/README.md``)."""


SERVING_FIXTURES = frozenset({"demo", "browser", "prod_hub", "impatient_hub"})
"""Fixtures that start processes: the security tests' served demo hub, Chromium, prod hubs."""
SERVING_MODULES = frozenset(
    {
        "tests.audit.test_durability",
        "tests.cache.test_cli_sync",
        "tests.cache.test_sigkill",
        "tests.console.test_console_browser",
        "tests.console.test_console_prod_sign_in",
        "tests.exchange.test_cli",
        "tests.exchange.test_client",
        "tests.exchange.test_consent_race",
        "tests.jobs.test_cli",
        "tests.jobs.test_once",
        "tests.security.test_quota_race",
        "tests.security.test_safe_defaults",
    }
)
"""Modules whose tests start ``tongban`` (or a hub on a loopback port) themselves; single
tests elsewhere carry ``@pytest.mark.serves``."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that start processes ``serves`` (``-m "not serves"`` leaves them out)."""
    for item in items:
        module = item.module.__name__ if isinstance(item, pytest.Function) else item.nodeid
        fixtures = set(getattr(item, "fixturenames", ()))
        if module in SERVING_MODULES or fixtures & SERVING_FIXTURES:
            item.add_marker(pytest.mark.serves)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` (each module on one worker) that also runs every test of a set
    sharing one node id: schemathesis' operation tests under pytest 9 all carry their test
    function's id, and loadscope, which keys its work by node id, ran the first of each only."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
            super().add_node_collection(node, distinct_ids(collection))

    return ModuleScheduling(config, log)


def distinct_ids(collection: Sequence[str]) -> list[str]:
    """``collection`` with the second and later uses of a node id told apart (``id #2``)."""
    seen: Counter[str] = Counter()
    distinct = []
    for nodeid in collection:
        seen[nodeid] += 1
        distinct.append(nodeid if seen[nodeid] == 1 else f"{nodeid} #{seen[nodeid]}")
    return distinct


@pytest.fixture(autouse=True)
def _audit_tree_of_the_profile() -> None:
    """The audit tree's and the subject map's hash bound to the suite's profile before each
    test: a hub binds them for its whole process when it is built (``merkle.use_profile``,
    ``vmap.use_profile``), and a test that builds a hub of the other profile on purpose must
    not leave them to the tests after it."""
    merkle.use_profile(PROFILE)
    vmap.use_profile(PROFILE)


BACKENDS = ["sqlite", "postgresql"]


def world_of(request: pytest.FixtureRequest) -> str:
    """The world a test's hub database starts as (:mod:`tests.databases`): the fullest one
    that the test asks for through a fixture, else ``empty``."""
    for fixture, world in (
        ("live_demo_world", "live-demo"),
        ("demo_world", "demo"),
        ("demo_catalogue", "catalogue"),
    ):
        if fixture in request.fixturenames:
            return world
    return "empty"


@pytest.fixture(scope="session")
def _postgres_database() -> Iterator[PostgresDatabase]:
    """This worker's PostgreSQL hub database, for tests that commit."""
    with throwaway_database(POSTGRES_ENV, "PostgreSQL tests") as url:
        database = PostgresDatabase(url)
        yield database
        database.dispose()


@pytest.fixture(scope="session")
def _worlds(tmp_path_factory: pytest.TempPathFactory) -> Worlds:
    return Worlds(tmp_path_factory.mktemp("worlds"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, _worlds: Worlds) -> str:
    """A migrated hub database on each backend, holding the test's world (:func:`world_of`),
    that the test may commit to."""
    world = world_of(request)
    if request.param == "sqlite":
        path = tmp_path / "hub.db"
        shutil.copyfile(_worlds.sqlite_file(world), path)
        return f"sqlite:///{path}"
    database: PostgresDatabase = request.getfixturevalue("_postgres_database")
    database.restore(_worlds.snapshot(world, database))
    return database.url


@pytest.fixture(scope="session")
def _rollback_databases(
    tmp_path_factory: pytest.TempPathFactory, _worlds: Worlds
) -> Iterator[dict[tuple[str, str], RollbackDatabase]]:
    """This worker's databases that no test commits to, by backend and world, made on first
    use (:func:`rollback_sessions`)."""
    made: dict[tuple[str, str], RollbackDatabase] = {}
    yield made
    for database in made.values():
        database.dispose()


@pytest.fixture(params=BACKENDS)
def rollback_sessions(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _worlds: Worlds,
    _rollback_databases: dict[tuple[str, str], RollbackDatabase],
) -> Iterator[sessionmaker[Session]]:
    """Sessions on each backend in one transaction that is rolled back after the test; a
    commit inside the test releases a savepoint. For tests that touch the database only
    through these sessions (no app, no engine, no other process): nothing to reset."""
    key = (request.param, world_of(request))
    if key not in _rollback_databases:
        _rollback_databases[key] = _rollback_database(request, tmp_path_factory, _worlds, *key)
    with _rollback_databases[key].sessions() as sessions:
        yield sessions


def _rollback_database(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    worlds: Worlds,
    backend: str,
    world: str,
) -> RollbackDatabase:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp(f"rollback-{world}") / "hub.db"
        shutil.copyfile(worlds.sqlite_file(world), path)
        return RollbackDatabase(f"sqlite:///{path}")
    built_in: PostgresDatabase = request.getfixturevalue("_postgres_database")
    url = request.getfixturevalue("_postgres_rollback_server")(world)
    holder = PostgresDatabase(url)
    holder.restore(worlds.snapshot(world, built_in))
    holder.dispose()
    return RollbackDatabase(url)


@pytest.fixture(scope="session")
def _postgres_rollback_server() -> Iterator[Callable[[str], str]]:
    """``make(world)``: a new throwaway PostgreSQL database's URL, dropped at the session's end
    (a test that needs one runs its worlds after ``_rollback_databases`` was made, so these
    are dropped first: with ``FORCE``, which closes the pooled connections left to them)."""
    with ExitStack() as stack:
        yield lambda _world: stack.enter_context(
            throwaway_database(POSTGRES_ENV, "PostgreSQL tests")
        )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def demo_catalogue() -> None:
    """The demo city's departments, resources and service items, published at ``now``: the
    test's database starts as that world (:func:`world_of`)."""


def _backend_of(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def demo_world(database_url: str, tmp_path: Path, _worlds: Worlds) -> Path:
    """The demo catalogue published, the demo case systems registered and the demo agreements
    loaded, at ``now``, in the test's database (its world, :func:`world_of`); returns the data
    directory, whose ``keys/<system-id>.jwk`` hold the systems' private JWKs. Built once per
    session, copied for the test."""
    return _worlds.copy_data_dir("demo", _backend_of(database_url), tmp_path / "demo")


@pytest.fixture
def live_demo_world(database_url: str, tmp_path: Path, _worlds: Worlds) -> Path:
    """:func:`demo_world` built on the real clock (at the session's first use), for hubs
    whose tokens, agreements and quotas run on it."""
    return _worlds.copy_data_dir("live-demo", _backend_of(database_url), tmp_path / "demo")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, mode="dev", adapters_file=None)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def staff_token(client: TestClient) -> Callable[..., str]:
    """``staff_token(role, department)``: a dev-IdP ID token for a staff member."""

    def issue(role: Role = Role.DEPARTMENT_ADMIN, department: str | None = "PSB") -> str:
        identity = client.app.state.hub.identity  # type: ignore[attr-defined]
        token: str = identity.issue_dev_token("officer-001", role, department)
        return token

    return issue


@pytest.fixture
def testdata() -> Path:
    return TESTDATA


# One headless Chromium (Debian's, driven by Playwright; ``playwright install`` is never run) for
# every browser test of the session: Playwright's sync API allows one instance per thread.
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        missing(f"the browser tests need Debian's chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the browser tests need the playwright package (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()
