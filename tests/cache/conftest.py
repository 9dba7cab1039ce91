"""Fixtures for the source cache: a SQLite legacy table bound to the demo's social insurance
resource (HRSS-SB-0001) as a cached resource, over the published demo catalogue, on each hub
backend; and helpers that read the cache back in bulk."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from exchange.db import unit_of_work
from exchange.sources.cache.crypto import CacheCrypto, record_aad
from exchange.sources.cache.keyring import DataKeys
from exchange.sources.cache.models import CacheRecord, CacheSyncState
from exchange.sources.cache.reader import SourceCache
from exchange.sources.cache.sync import CacheSync
from exchange.sources.registry import SourceRegistry
from tests import factories
from tests.profiles import key_schedule

RESOURCE = "HRSS-SB-0001"
FIELDS = ("current_employer_name", "months_paid", "status")
STATUS = {"1": "contributing", "2": "suspended", "3": "terminated", "4": "retired"}

MAPPING: dict[str, Any] = {
    "kind": "mapping",
    "name": "test/si",
    "adapter": "sql",
    "connection": "src",
    "table": "si",
    "key": {"column": "pid"},
    "watermark": {"column": "rev"},
    "fields": {
        "status": {"column": "st", "codes": STATUS},
        "months_paid": {"column": "months", "format": "integer"},
        "current_employer_name": {"column": "employer"},
    },
}


def adapters_document(
    url: str, strategy: str = "watermark", mapping: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "connections": {"src": {"url": url, "timeout_s": 10.0}},
        "mappings": {"test/si": mapping or MAPPING},
        "resources": {
            RESOURCE: {
                "mapping": "test/si",
                "connection": "src",
                "mode": "cached",
                "sync": {"strategy": strategy, "every_s": 3600},
            }
        },
    }


@dataclass
class LegacyTable:
    """The department's table: ``pid`` (subject), ``st``, ``months``, ``employer``, ``rev``."""

    engine: Engine
    url: str

    def insert(self, rows: Sequence[tuple[str, str, int, str, int]]) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO si (pid, st, months, employer, rev) VALUES (:p, :s, :m, :e, :r)"),
                [{"p": p, "s": s, "m": m, "e": e, "r": r} for p, s, m, e, r in rows],
            )

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(sql), params)

    def expected(self, crypto: CacheCrypto) -> dict[str, dict[str, Any]]:
        """What the cache must hold: each subject's mapped fields, by subject pseudonym."""
        with self.engine.connect() as connection:
            rows = connection.execute(text("SELECT pid, st, months, employer FROM si")).all()
        return {
            crypto.subject_mac(RESOURCE, pid): {
                "status": STATUS[st],
                "months_paid": months,
                "current_employer_name": employer,
            }
            for pid, st, months, employer in rows
        }


def make_table(path: Path) -> LegacyTable:
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE si (pid TEXT PRIMARY KEY, st TEXT, months INTEGER,"
                " employer TEXT, rev INTEGER NOT NULL)"
            )
        )
        connection.execute(text("CREATE INDEX si_rev ON si (rev, pid)"))
    return LegacyTable(engine, url)


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[LegacyTable]:
    table = make_table(tmp_path / "hrss-legacy.sqlite")
    yield table
    table.engine.dispose()


@pytest.fixture
def crypto() -> CacheCrypto:
    """The cache's keys as the tests' dev hubs derive them: from their secret, under the
    suite's profile (SM4-GCM and HMAC-SM3 under ``gm``), as ``tongban sync`` does."""
    return CacheCrypto(key_schedule(factories.dev_secret()))


@pytest.fixture
def registry(legacy: LegacyTable) -> Iterator[SourceRegistry]:
    sources = SourceRegistry.from_document(adapters_document(legacy.url))
    yield sources
    sources.close()


@pytest.fixture
def syncer(
    sessions: sessionmaker[Session],
    registry: SourceRegistry,
    crypto: CacheCrypto,
    demo_catalogue: None,
) -> CacheSync:
    return CacheSync(sessions, registry, crypto, batch_rows=10)


@pytest.fixture
def reader(
    sessions: sessionmaker[Session], registry: SourceRegistry, crypto: CacheCrypto
) -> SourceCache:
    return SourceCache(sessions, registry, crypto)


def cache_contents(
    sessions: sessionmaker[Session], crypto: CacheCrypto, resource: str = RESOURCE
) -> dict[str, dict[str, Any]]:
    """Every cached record of *resource*, decrypted, by subject pseudonym (seq 0 only); a
    second row of one subject fails the test."""
    keys = DataKeys(crypto)
    found: dict[str, dict[str, Any]] = {}
    with unit_of_work(sessions) as session:
        state = session.get(CacheSyncState, resource)
        assert state is not None
        for row in session.scalars(select(CacheRecord).where(CacheRecord.resource == resource)):
            assert row.seq == 0
            assert row.subject not in found
            key = keys.get(session, state.department, row.key_version)
            aad = record_aad(resource, row.subject, row.seq, row.key_version)
            found[row.subject] = crypto.open(key, aad, row.sealed)
    return found


def sync_state(sessions: sessionmaker[Session], resource: str = RESOURCE) -> CacheSyncState:
    with unit_of_work(sessions) as session:
        state = session.get(CacheSyncState, resource)
        assert state is not None
        session.expunge(state)
        return state
