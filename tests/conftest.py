"""Shared fixtures: a migrated hub database per backend, the app, tokens, the demo catalogue.

Tests that take ``database_url`` (directly or through ``sessions``/``client``) run once on
SQLite and once on PostgreSQL. PostgreSQL runs whenever ``TONGBAN_TEST_POSTGRES_URL`` is set
(``.ci/run`` always sets it) and is skipped with that reason otherwise. SQLite tests get a
fresh copy of a migrated template file; PostgreSQL tests share one throwaway database that is
truncated before each test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from catalogue.publishing import publish
from exchange.app import create_app
from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work
from exchange.demo.build import demo_descriptors
from exchange.security.identity import Role
from exchange.settings import Settings

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
SHARED = Path(__file__).resolve().parents[2] / "shared"


def missing(reason: str) -> NoReturn:
    """Skip for a missing service or data set, but fail under CI, where it must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "hub.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@contextmanager
def throwaway_database(env: str, purpose: str) -> Iterator[str]:
    """A database made on the server at ``$env`` (PostgreSQL or MariaDB) for one use, and
    dropped afterwards; ``missing`` names ``env`` when it is unset."""
    admin_url = os.environ.get(env)
    if not admin_url:
        missing(f"{purpose} need {env}")
    backend = make_url(admin_url).get_backend_name()
    name = f"tongban_test_{uuid.uuid4().hex[:12]}"
    charset = " CHARACTER SET utf8mb4" if backend == "mysql" else ""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}{charset}"))
    url = make_url(admin_url).set(database=name)
    if backend == "mysql":
        url = url.update_query_dict({"charset": "utf8mb4"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


@pytest.fixture(scope="session")
def _postgres_database() -> Iterator[str]:
    with throwaway_database(POSTGRES_ENV, "PostgreSQL tests") as url:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty hub database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "hub.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("_postgres_database")
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = connection.scalars(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename NOT IN ('alembic_version', 'audit_head')"
            )
        ).all()
        # The append-only tables refuse TRUNCATE (migration 0009); a superuser's replica role
        # skips triggers for this cleanup only.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        connection.execute(  # the empty log's head, as the migration leaves it
            text("UPDATE audit_head SET size = 0, root = :root"),
            {"root": hashlib.sha256(b"").digest()},
        )
    engine.dispose()
    return url


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
    return datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.fixture
def demo_catalogue(sessions: sessionmaker[Session], now: datetime) -> None:
    """The demo city's departments, resources and service items, published."""
    with unit_of_work(sessions) as session:
        for descriptor in demo_descriptors():
            publish(session, descriptor, by="fixture", now=now)


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
def shared_dir() -> Path:
    if not SHARED.is_dir():
        missing(f"the shared test data is not beside the checkout ({SHARED})")
    return SHARED


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
