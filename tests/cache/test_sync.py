"""The sync engine on each hub backend: incremental by watermark, snapshot diff with deletes,
batch boundaries inside a run of equal watermarks, an interrupted run resumed, a run that
another run took over, and the configuration that says how a resource is cached."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from exchange.jobs.spec import JobContext
from exchange.settings import Settings
from exchange.sources.cache.crypto import CacheCrypto
from exchange.sources.cache.jobs import sync_jobs
from exchange.sources.cache.reader import SourceCache
from exchange.sources.cache.sync import CacheSync
from exchange.sources.errors import AdapterConfigError, NotCached, SyncFailed, SyncSuperseded
from exchange.sources.registry import SourceRegistry
from tests.cache.conftest import (
    MAPPING,
    RESOURCE,
    LegacyTable,
    adapters_document,
    cache_contents,
    sync_state,
)
from tests.profiles import key_schedule


def people(count: int, *, rev: int = 1, start: int = 0) -> list[tuple[str, str, int, str, int]]:
    return [(f"P{start + i:06d}", "1", 10 + i % 500, f"单位{start + i}", rev) for i in range(count)]


def test_watermark_sync_then_an_incremental_run_reads_only_the_changes(
    syncer: CacheSync,
    legacy: LegacyTable,
    sessions: sessionmaker[Session],
    crypto: CacheCrypto,
    reader: SourceCache,
) -> None:
    legacy.insert(people(25, rev=1))
    first = syncer.run(RESOURCE)
    assert (first.written, first.watermark, first.resumed_from) == (25, "1", None)
    assert cache_contents(sessions, crypto) == legacy.expected(crypto)

    legacy.execute("UPDATE si SET st = '4', months = 480, rev = 2 WHERE pid = 'P000003'")
    legacy.insert(people(1, rev=2, start=100))
    second = syncer.run(RESOURCE)
    assert (second.written, second.watermark, second.resumed_from) == (2, "2", "1")
    assert cache_contents(sessions, crypto) == legacy.expected(crypto)
    (record,), as_of = reader.read(RESOURCE, "P000003", ["status", "months_paid"])
    assert record.values == {"status": "retired", "months_paid": 480}
    assert as_of == second.as_of

    third = syncer.run(RESOURCE)
    assert third.written == 0
    assert sync_state(sessions).status == "ok"


def test_a_batch_boundary_inside_a_run_of_equal_watermarks_loses_nothing_on_resume(
    syncer: CacheSync, legacy: LegacyTable, sessions: sessionmaker[Session], crypto: CacheCrypto
) -> None:
    # Batches of 10: rows 8..29 share watermark 2, so batches 1 and 2 end inside that run.
    legacy.insert(people(8, rev=1) + people(22, rev=2, start=8) + people(5, rev=3, start=30))

    class Killed(Exception):
        pass

    def die_after_two_batches(rows: int) -> None:
        if rows >= 20:
            raise Killed

    with pytest.raises(Killed):
        syncer.run(RESOURCE, progress=die_after_two_batches)
    interrupted = sync_state(sessions)
    assert interrupted.watermark == "1"  # 2 is not complete yet: its rows continue
    assert interrupted.status == "running"
    assert interrupted.last_success_at is None
    assert len(cache_contents(sessions, crypto)) == 20

    resumed = syncer.run(RESOURCE)
    assert resumed.resumed_from == "1"
    assert resumed.written == 27  # the 22 rows of watermark 2 again, and the 5 of 3
    assert cache_contents(sessions, crypto) == legacy.expected(crypto)
    assert sync_state(sessions).watermark == "3"


def test_a_full_run_drops_what_left_the_source(
    syncer: CacheSync, legacy: LegacyTable, sessions: sessionmaker[Session], crypto: CacheCrypto
) -> None:
    legacy.insert(people(12))
    syncer.run(RESOURCE)
    legacy.execute("DELETE FROM si WHERE pid IN ('P000001', 'P000002')")
    assert syncer.run(RESOURCE).deleted == 0  # incremental: a deletion is not a change
    assert len(cache_contents(sessions, crypto)) == 12
    full = syncer.run(RESOURCE, full=True)
    assert (full.written, full.deleted) == (10, 2)
    assert cache_contents(sessions, crypto) == legacy.expected(crypto)


def test_snapshot_diff_inserts_updates_and_deletes(
    sessions: sessionmaker[Session],
    crypto: CacheCrypto,
    legacy: LegacyTable,
    demo_catalogue: None,
) -> None:
    sources = SourceRegistry.from_document(adapters_document(legacy.url, "snapshot"))
    syncer = CacheSync(sessions, sources, crypto, batch_rows=7)
    try:
        legacy.insert(people(20))
        first = syncer.run(RESOURCE)
        assert (first.written, first.deleted, first.unchanged) == (20, 0, 0)
        legacy.execute("DELETE FROM si WHERE pid = 'P000004'")
        legacy.execute("UPDATE si SET employer = '新单位' WHERE pid = 'P000005'")
        legacy.insert(people(1, start=50))
        second = syncer.run(RESOURCE)
        assert (second.written, second.deleted, second.unchanged) == (2, 1, 18)
        assert cache_contents(sessions, crypto) == legacy.expected(crypto)
        reader = SourceCache(sessions, sources, crypto)
        assert reader.read(RESOURCE, "P000004", ["status"])[0] == []
    finally:
        sources.close()


def test_a_newer_run_takes_over_and_the_older_one_stops(
    syncer: CacheSync, legacy: LegacyTable, sessions: sessionmaker[Session], crypto: CacheCrypto
) -> None:
    legacy.insert(people(30, rev=1) + people(30, rev=2, start=30))
    taken: list[Any] = []

    def start_another(rows: int) -> None:
        if not taken:
            taken.append(syncer.run(RESOURCE, full=True))

    with pytest.raises(SyncSuperseded):
        syncer.run(RESOURCE, progress=start_another)
    assert taken[0].written == 60
    assert cache_contents(sessions, crypto) == legacy.expected(crypto)
    assert sync_state(sessions).status == "ok"


def test_a_source_that_fails_records_the_reason_and_raises_sync_failed(
    syncer: CacheSync, legacy: LegacyTable, sessions: sessionmaker[Session]
) -> None:
    legacy.insert(people(3))
    syncer.run(RESOURCE)
    legacy.execute("ALTER TABLE si RENAME TO si_gone")
    with pytest.raises(SyncFailed) as failed:
        syncer.run(RESOURCE)
    assert "P0000" not in failed.value.explain()
    state = sync_state(sessions)
    assert (state.status, state.last_error) == ("failed", "unavailable")
    assert state.last_success_at is not None  # the previous success still dates the cache


def test_a_live_resource_is_not_synced(
    sessions: sessionmaker[Session], crypto: CacheCrypto, legacy: LegacyTable, demo_catalogue: None
) -> None:
    document = adapters_document(legacy.url)
    del document["resources"][RESOURCE]["mode"], document["resources"][RESOURCE]["sync"]
    sources = SourceRegistry.from_document(document)
    with pytest.raises(NotCached):
        CacheSync(sessions, sources, crypto).run(RESOURCE)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"mode": "mirror"}, "mode is 'live' or 'cached'"),
        ({"mode": "live", "sync": {"strategy": "snapshot"}}, "sync applies to cached"),
        ({"sync": {"strategy": "nightly"}}, "watermark or snapshot"),
        ({"sync": {"every_s": 5}}, "at least 60"),
        ({"sync": {"every_s": "3600"}}, "at least 60"),
        ({"sync": {"strategy": "watermark", "extra": 1}}, "strategy, every_s and batch_rows only"),
        ({"sync": {"batch_rows": 0}}, "batch_rows is a whole number from 1 to 50000"),
        ({"sync": {"batch_rows": 10**6}}, "batch_rows is a whole number from 1 to 50000"),
    ],
)
def test_bad_cache_settings_are_refused_with_the_reason(
    change: dict[str, Any], complaint: str
) -> None:
    document = adapters_document("sqlite://")
    document["resources"][RESOURCE].update(change)
    with pytest.raises(AdapterConfigError, match=complaint):
        SourceRegistry.from_document(document)


def test_a_strategy_the_mapping_cannot_serve_is_refused() -> None:
    no_watermark = {k: v for k, v in MAPPING.items() if k != "watermark"}
    with pytest.raises(AdapterConfigError, match="needs a mapping watermark column"):
        SourceRegistry.from_document(adapters_document("sqlite://", "watermark", no_watermark))
    with pytest.raises(AdapterConfigError, match="file export or a watermark column"):
        SourceRegistry.from_document(adapters_document("sqlite://", "snapshot", no_watermark))
    many = {**MAPPING, "records": "many"}
    with pytest.raises(AdapterConfigError, match="snapshot only"):
        SourceRegistry.from_document(adapters_document("sqlite://", "watermark", many))
    defaulted = adapters_document("sqlite://")
    del defaulted["resources"][RESOURCE]["sync"]
    binding = SourceRegistry.from_document(defaulted).binding(RESOURCE)
    assert binding is not None
    assert binding.sync is not None
    assert (binding.sync.strategy, binding.sync.every_s, binding.sync.batch_rows) == (
        "watermark",
        3600,
        1000,
    )


def test_the_scheduler_gets_one_sync_job_per_cached_resource(
    sessions: sessionmaker[Session],
    registry: SourceRegistry,
    legacy: LegacyTable,
    crypto: CacheCrypto,
    demo_catalogue: None,
) -> None:
    settings = Settings(database_url="sqlite://", adapters_file=None)
    (job,) = sync_jobs(registry, CacheCrypto(key_schedule(settings.secret_key.get_secret_value())))
    assert (job.id, job.every_s) == (f"sync.{RESOURCE}", 3600)
    legacy.insert(people(4))
    context = JobContext(settings, sessions, datetime.now(UTC))
    outcome = job.run(context)
    assert outcome.rows == 4
    assert outcome.detail["strategy"] == "watermark"
    assert "P000001" not in json.dumps(outcome.detail)
    assert cache_contents(sessions, crypto) == legacy.expected(crypto)
    live = SourceRegistry.from_document({"connections": {}, "resources": {}})
    assert sync_jobs(live, CacheCrypto(key_schedule(settings.secret_key.get_secret_value()))) == []
