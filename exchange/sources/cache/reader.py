"""The query path of a cached resource: one subject's records from the cache, decrypted.

:class:`SourceCache` is what the app factory attaches to the source registry
(``SourceRegistry.cache``); ``exchange.query.sourcing.fetch_permitted`` calls :meth:`read` for a
cached binding instead of the adapter. The answer holds only the fields asked for (the record
is decrypted whole, then cut down) and the cache's as-of time: the start of its last
successful sync, which becomes the attributes' provenance ``as_of``. The same rules as a live
read apply: one record per subject unless the mapping says ``records: many`` (then at most
``max_records``); a mapping's ``when_absent`` answers for a subject the cache has no row of.
A resource never synced, or synced before a field it is asked for was cached, is
``not_synced``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import SourceRecord
from adapters.errors import (
    AmbiguousSubject,
    MappingError,
    SourceLimitExceeded,
    UnmappedField,
)
from exchange.db import unit_of_work
from exchange.sources.cache.crypto import CacheCrypto, record_aad
from exchange.sources.cache.keyring import DataKeys
from exchange.sources.cache.models import CacheRecord, CacheSyncState
from exchange.sources.errors import NotSynced
from exchange.sources.registry import SourceRegistry

__all__ = ["NotSynced", "SourceCache"]


class SourceCache:
    """Reads cached resources for the query path (see the module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sources: SourceRegistry,
        crypto: CacheCrypto,
        keys: DataKeys | None = None,
    ) -> None:
        self._sessions = sessions
        self._sources = sources
        self._crypto = crypto
        self._keys = keys or DataKeys(crypto)

    def read(
        self, resource: str, subject: str, fields: Sequence[str]
    ) -> tuple[list[SourceRecord], datetime]:
        binding = self._sources.binding(resource)
        if binding is None or not binding.cached:
            raise MappingError(resource, "the resource is not cached")
        unknown = sorted(set(fields) - set(binding.mapping.fields))
        if unknown:
            raise UnmappedField(resource, f"the mapping has no field {unknown[0]!r}")
        with unit_of_work(self._sessions) as session:
            state = session.get(CacheSyncState, resource)
            if state is None or state.last_success_at is None:
                raise NotSynced(resource, "the cache has not been synced yet")
            if set(fields) - set(state.fields):
                raise NotSynced(resource, "a field asked for is not in the cache yet")
            records = self._records(session, state, subject, fields)
            as_of = state.last_success_at
        return self._checked(resource, records, fields), as_of

    def _records(
        self, session: Session, state: CacheSyncState, subject: str, fields: Sequence[str]
    ) -> list[SourceRecord]:
        resource = state.resource
        mac = self._crypto.subject_mac(resource, subject)
        limit = self._cap(resource)
        rows = session.scalars(
            select(CacheRecord)
            .where(CacheRecord.resource == resource, CacheRecord.subject == mac)
            .order_by(CacheRecord.seq)
            .limit(limit)
        ).all()
        found = []
        for row in rows:
            key = self._keys.get(session, state.department, row.key_version)
            aad = record_aad(resource, mac, row.seq, row.key_version)
            values = self._crypto.open(key, aad, row.sealed)
            found.append(SourceRecord({f: values.get(f) for f in fields}, None))
        return found

    def _cap(self, resource: str) -> int:
        binding = self._sources.binding(resource)
        assert binding is not None  # noqa: S101 - checked by the caller
        return binding.limits.max_records + 1 if binding.mapping.many else 2

    def _checked(
        self, resource: str, records: list[SourceRecord], fields: Sequence[str]
    ) -> list[SourceRecord]:
        binding = self._sources.binding(resource)
        assert binding is not None  # noqa: S101 - checked by the caller
        if not records:
            absent = binding.mapping.absent_values(list(fields))
            return [] if absent is None else [SourceRecord(absent, None)]
        if binding.mapping.many:
            if len(records) > binding.limits.max_records:
                limit = binding.limits.max_records
                raise SourceLimitExceeded(resource, f"more than {limit} records for the subject")
            return records
        if len(records) > 1:
            raise AmbiguousSubject(resource, "more than one record for the subject")
        return records
