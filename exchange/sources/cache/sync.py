"""The sync engine: fill a cached resource's cache from its source.

Two strategies (``sync.strategy`` of the binding):

* **watermark**: stream ``adapter.changes(since=<committed watermark>)`` (oldest first) and
  upsert in batches of ``batch_rows``. Each batch is one transaction that writes its rows *and*
  the new watermark, so a run killed at any point (SIGKILL included) leaves the cache and its
  watermark consistent, and the next run resumes from there. The watermark committed with a
  batch is the newest value *every* row of which has been read: rows sharing the batch's last
  watermark may continue into the next batch, so the value before it is committed and those
  rows are read again on resume, where the upsert by (resource, subject, seq) makes the repeat
  harmless. No row is lost, none is duplicated.
* **snapshot**: read everything (``changes(since=None)``: a file export, or a table with a
  watermark column), compare each subject's records with the cache by keyed content MAC, and
  apply inserts, updates and deletes in one transaction: a killed snapshot changes nothing.

Records are encrypted before any write transaction opens, so the hub database's write lock is
held only for the inserts. Only the fields the catalogue declares and may share (not
``not_shared``) and the mapping reads are cached; a change of that set starts over from no
watermark. Every batch checks that its run still owns the resource (``run_id``): a newer run
takes over and an older one stops with ``sync_superseded`` instead of writing older values.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from time import perf_counter
from typing import Any, TypeVar

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Change, SourceAdapter
from adapters.errors import AdapterError
from catalogue.reading import resource_version
from exchange import clock
from exchange.db import unit_of_work
from exchange.security.gm.profile import Aead
from exchange.sources.cache.crypto import CacheCrypto, canonical_values, record_aad
from exchange.sources.cache.keyring import DataKeys
from exchange.sources.cache.models import CacheRecord, CacheSyncState, SyncStatus
from exchange.sources.errors import NotCached, SyncFailed, SyncSuperseded
from exchange.sources.registry import SourceBinding, SourceRegistry
from schemas import TongbanError

__all__ = ["CacheSync", "SyncFailed", "SyncResult", "SyncSuperseded", "cached_fields"]

Progress = Callable[[int], None]
_RECORDS: Table = CacheRecord.__table__  # type: ignore[assignment]
_T = TypeVar("_T")


@dataclass(frozen=True)
class SyncResult:
    """What one run did; counts only, no values."""

    resource: str
    strategy: str
    written: int
    deleted: int
    unchanged: int
    watermark: str | None
    as_of: datetime
    seconds: float
    resumed_from: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "strategy": self.strategy,
            "written": self.written,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "watermark": self.watermark,
            "resumed_from": self.resumed_from,
            "as_of": self.as_of.isoformat().replace("+00:00", "Z"),
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.written / self.seconds, 1) if self.seconds > 0 else None,
        }


@dataclass(frozen=True)
class _Target:
    """The resource as the sync sees it: binding, provider, the fields it caches."""

    binding: SourceBinding
    department: str
    fields: tuple[str, ...]
    adapter: SourceAdapter
    batch_rows: int


def cached_fields(descriptor: Mapping[str, Any], binding: SourceBinding) -> tuple[str, ...]:
    """Fields the cache holds: declared by the catalogue, not ``not_shared``, mapped."""
    shareable = [
        spec["name"]
        for spec in descriptor["fields"]
        if spec.get("sharing", {}).get("type") != "not_shared"
    ]
    return tuple(sorted(f for f in shareable if f in binding.mapping.fields))


class CacheSync:
    """Runs syncs of cached resources on the hub database *sessions*; *batch_rows*, when
    given, overrides each binding's ``sync.batch_rows``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sources: SourceRegistry,
        crypto: CacheCrypto,
        keys: DataKeys | None = None,
        *,
        batch_rows: int | None = None,
    ) -> None:
        self._sessions = sessions
        self._sources = sources
        self._crypto = crypto
        self._keys = keys or DataKeys(crypto)
        self._batch_rows = batch_rows

    def run(
        self, resource: str, *, full: bool = False, progress: Progress | None = None
    ) -> SyncResult:
        """Sync *resource* now; ``full`` ignores the committed watermark."""
        started, began = clock.now(), perf_counter()
        target = self._target(resource)
        plan = target.binding.sync
        assert plan is not None  # noqa: S101 - a cached binding always has its plan
        run_id, since = self._begin(target, plan.strategy, started, full=full)
        tick = progress or (lambda _rows: None)
        try:
            if plan.strategy == "watermark":
                counts = self._by_watermark(target, run_id, since, started, tick)
            else:
                counts = self._by_snapshot(target, run_id, started, tick)
        except AdapterError as exc:
            self._failed(resource, run_id, exc.code)
            raise SyncFailed(f"{resource}: {exc.title.lower()} ({exc.code})") from None
        except TongbanError as exc:
            self._failed(resource, run_id, exc.code)
            raise
        written, deleted, unchanged, watermark = counts
        return SyncResult(
            resource,
            plan.strategy,
            written,
            deleted,
            unchanged,
            watermark,
            started,
            perf_counter() - began,
            since,
        )

    # -- set-up ------------------------------------------------------------------------------

    def _target(self, resource: str) -> _Target:
        binding = self._sources.binding(resource)
        if binding is None or not binding.cached or binding.sync is None:
            raise NotCached(f"{resource} is not bound as a cached resource")
        with unit_of_work(self._sessions) as session:
            row, version = resource_version(session, resource)
            descriptor = version.descriptor
            department, number = row.provider_code, version.version
        schemas = {f["name"]: f["schema"] for f in descriptor["fields"] if "schema" in f}
        try:
            adapter = self._sources.adapter(resource, number, schemas)
        except AdapterError as exc:
            raise SyncFailed(f"{resource}: the source cannot be opened ({exc.code})") from None
        batch = self._batch_rows or binding.sync.batch_rows
        return _Target(binding, department, cached_fields(descriptor, binding), adapter, batch)

    def _begin(
        self, target: _Target, strategy: str, now: datetime, *, full: bool
    ) -> tuple[str, str | None]:
        """Take the resource for a new run; the watermark to resume from (None: from start)."""
        run_id = str(uuid.uuid4())
        resource = target.binding.resource
        with unit_of_work(self._sessions, write=True) as session:
            state = _locked_state(session, resource)
            if state is None:
                state = CacheSyncState(resource=resource, rows=0, status=SyncStatus.NEW)
                session.add(state)
            restart = (
                full
                or state.strategy != strategy
                or list(state.fields or []) != list(target.fields)
                or state.department != target.department
            )
            since = None if restart or strategy == "snapshot" else state.watermark
            state.department, state.strategy = target.department, strategy
            state.fields = list(target.fields)
            state.watermark = since if strategy == "watermark" else state.watermark
            state.last_attempt_at, state.status, state.last_error = now, SyncStatus.RUNNING, None
            state.run_id, state.rows = run_id, 0
        return run_id, since

    def _failed(self, resource: str, run_id: str, code: str) -> None:
        with unit_of_work(self._sessions, write=True) as session:
            session.execute(
                update(CacheSyncState)
                .where(CacheSyncState.resource == resource, CacheSyncState.run_id == run_id)
                .values(status=SyncStatus.FAILED, last_error=code, run_id=None)
            )

    # -- watermark ---------------------------------------------------------------------------

    def _by_watermark(
        self,
        target: _Target,
        run_id: str,
        since: str | None,
        started: datetime,
        tick: Progress,
    ) -> tuple[int, int, int, str | None]:
        version, key = self._keys.current(self._sessions, target.department)
        written, deleted, committed = 0, 0, since
        for batch, complete, final in _batches(
            target.adapter.changes(since, target.fields), target.batch_rows
        ):
            rows = self._sealed(target, version, key, batch)
            committed = complete if complete is not None else committed
            sweep = started if final and since is None else None
            deleted += self._commit_batch(
                target, run_id, rows, committed, started if final else None, sweep
            )
            written += len(rows)
            tick(written)
        return written, deleted, 0, committed

    def _sealed(
        self, target: _Target, version: int, key: Aead, batch: Sequence[Change]
    ) -> list[dict[str, Any]]:
        """The batch's rows, encrypted; a subject changed twice in one batch keeps its last."""
        resource = target.binding.resource
        now = clock.now()
        rows: dict[str, dict[str, Any]] = {}
        for change in batch:
            subject = self._crypto.subject_mac(resource, change.subject)
            plain = canonical_values({f: change.values.get(f) for f in target.fields})
            rows[subject] = {
                "resource": resource,
                "subject": subject,
                "seq": 0,
                "key_version": version,
                "sealed": self._crypto.seal(key, record_aad(resource, subject, 0, version), plain),
                "content_mac": self._crypto.content_mac(resource, subject, plain),
                "watermark": change.watermark,
                "synced_at": now,
            }
        return list(rows.values())

    def _commit_batch(
        self,
        target: _Target,
        run_id: str,
        rows: list[dict[str, Any]],
        watermark: str | None,
        success_at: datetime | None,
        sweep_before: datetime | None,
    ) -> int:
        """One transaction: the rows, the watermark that covers them, and (last batch)
        success; after a complete read from the start, rows it did not see are deleted (they
        left the source). Returns how many were deleted."""
        resource = target.binding.resource
        deleted = 0
        with unit_of_work(self._sessions, write=True) as session:
            state = self._owned(session, resource, run_id)
            if rows:
                _upsert(session, rows)
            if sweep_before is not None:
                swept = session.execute(
                    delete(CacheRecord).where(
                        CacheRecord.resource == resource, CacheRecord.synced_at < sweep_before
                    )
                )
                deleted = int(getattr(swept, "rowcount", 0) or 0)
            state.watermark = watermark
            state.rows = (state.rows or 0) + len(rows)
            if success_at is not None:
                _succeeded(state, success_at)
        return deleted

    def _owned(self, session: Session, resource: str, run_id: str) -> CacheSyncState:
        state = _locked_state(session, resource)
        if state is None or state.run_id != run_id:
            raise SyncSuperseded(f"{resource}: another sync run took over this resource")
        return state

    # -- snapshot ----------------------------------------------------------------------------

    def _by_snapshot(
        self, target: _Target, run_id: str, started: datetime, tick: Progress
    ) -> tuple[int, int, int, str | None]:
        resource = target.binding.resource
        version, key = self._keys.current(self._sessions, target.department)
        source, newest, read = self._read_snapshot(target, tick)
        with unit_of_work(self._sessions) as session:
            cached = _cached_macs(session, resource)
        inserts: list[dict[str, Any]] = []
        stale: list[str] = []
        unchanged = 0
        now = clock.now()
        for subject, records in source.items():
            macs = [self._crypto.content_mac(resource, subject, plain) for plain in records]
            if cached.get(subject) == macs:
                unchanged += 1
                continue
            if subject in cached:
                stale.append(subject)
            for seq, (plain, mac) in enumerate(zip(records, macs, strict=True)):
                aad = record_aad(resource, subject, seq, version)
                inserts.append(
                    {
                        "resource": resource,
                        "subject": subject,
                        "seq": seq,
                        "key_version": version,
                        "sealed": self._crypto.seal(key, aad, plain),
                        "content_mac": mac,
                        "watermark": newest,
                        "synced_at": now,
                    }
                )
        gone = [s for s in cached if s not in source]
        with unit_of_work(self._sessions, write=True) as session:
            state = self._owned(session, resource, run_id)
            for chunk in _chunks([*stale, *gone], 500):
                session.execute(
                    delete(CacheRecord).where(
                        CacheRecord.resource == resource, CacheRecord.subject.in_(chunk)
                    )
                )
            for rows in _chunks(inserts, target.batch_rows):
                _upsert(session, rows)
            state.watermark, state.rows = newest, read
            _succeeded(state, started)
        return len(inserts), len(gone), unchanged, newest

    def _read_snapshot(
        self, target: _Target, tick: Progress
    ) -> tuple[dict[str, list[bytes]], str | None, int]:
        """Every subject's records (canonical JSON, source order), the newest watermark, and
        how many records were read. Held in memory: snapshots are for export-sized sources."""
        resource = target.binding.resource
        source: dict[str, list[bytes]] = {}
        newest: str | None = None
        read = 0
        for change in target.adapter.changes(None, target.fields):
            subject = self._crypto.subject_mac(resource, change.subject)
            plain = canonical_values({f: change.values.get(f) for f in target.fields})
            source.setdefault(subject, []).append(plain)
            newest = change.watermark if newest is None else max(newest, change.watermark)
            read += 1
            if read % target.batch_rows == 0:
                tick(read)
        tick(read)
        return source, newest, read


def _batches(
    changes: Iterable[Change], size: int
) -> Iterator[tuple[list[Change], str | None, bool]]:
    """Batches of at most *size* changes, each with the newest watermark all of whose rows
    have been read by the end of the batch (None while none is complete yet), and whether it
    is the final batch: the stream ended, so the last watermark read is complete too."""
    batch: list[Change] = []
    safe: str | None = None
    last: str | None = None
    for change in changes:
        if last is not None and change.watermark != last:
            safe = last
        batch.append(change)
        last = change.watermark
        if len(batch) >= size:
            yield batch, safe, False
            batch = []
    yield batch, last, True


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _locked_state(session: Session, resource: str) -> CacheSyncState | None:
    """The sync state row, locked for update on PostgreSQL (SQLite: the write lock)."""
    statement = select(CacheSyncState).where(CacheSyncState.resource == resource)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    state: CacheSyncState | None = session.scalars(statement).first()
    return state


def _succeeded(state: CacheSyncState, at: datetime) -> None:
    state.last_success_at, state.status = at, SyncStatus.OK
    state.last_error, state.run_id = None, None


def _cached_macs(session: Session, resource: str) -> dict[str, list[str]]:
    """Each cached subject's record MACs in ``seq`` order."""
    rows = session.execute(
        select(CacheRecord.subject, CacheRecord.content_mac)
        .where(CacheRecord.resource == resource)
        .order_by(CacheRecord.subject, CacheRecord.seq)
    )
    found: dict[str, list[str]] = {}
    for subject, mac in rows:
        found.setdefault(subject, []).append(mac)
    return found


def _upsert(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace rows by (resource, subject, seq); SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover - the hub runs on SQLite or PostgreSQL
        raise SyncFailed(f"the source cache does not support {dialect} hub databases")
    statement = insert(_RECORDS)
    replaced = ("key_version", "sealed", "content_mac", "watermark", "synced_at")
    statement = statement.on_conflict_do_update(
        index_elements=["resource", "subject", "seq"],
        set_={name: statement.excluded[name] for name in replaced},
    )
    session.execute(statement, list(rows))
