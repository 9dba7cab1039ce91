"""Fetch the permitted fields from each department's source, concurrently.

Only the fields the decision lets through (``Decision.fields_to_fetch``) are asked for; each
resource's adapter enforces its own timeout, so the fan-out costs about as much as the slowest
source, not the sum. A source that fails makes its attributes ``unavailable`` with the reason
code of the typed adapter error; nothing else is affected.

A *cached* resource (前置库 mode, ``exchange/sources/cache``) is read from the hub's encrypted cache
instead (``SourceRegistry.cache``), and its ``fetched_at`` is the cache's as-of time, so the
provenance says how old the data is; never synced, it is ``unavailable`` (``not_synced``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from datetime import datetime

from adapters.base import SourceRecord
from adapters.errors import AdapterError
from exchange import clock
from exchange.query.resolve import ResourceInfo
from exchange.sources.registry import SourceRegistry

__all__ = ["Fetched", "fetch_permitted"]

log = logging.getLogger("tongban.exchange")


@dataclass(frozen=True)
class Fetched:
    """What one resource's source answered: its records, or why there are none."""

    resource: str
    records: tuple[SourceRecord, ...] = ()
    failure: str | None = None  # a reason code: source_timeout, unavailable, not_bound, …
    fetched_at: datetime | None = None


def fetch_permitted(
    pool: ThreadPoolExecutor,
    registry: SourceRegistry,
    subject: str,
    resources: Mapping[str, ResourceInfo],
    wanted: Mapping[str, set[str]],
) -> dict[str, Fetched]:
    """Each wanted resource's records for *subject*, fetched concurrently on *pool* (one
    resource alone is fetched on the calling thread: its adapter still answers within its
    timeout, on the adapter's own worker pool)."""

    def one(code: str) -> Fetched:
        info = resources[code]
        binding = registry.binding(code)
        if binding is None:
            return Fetched(code, failure="not_bound")
        if binding.cached:
            return _from_cache(registry, code, subject, sorted(wanted[code]))
        try:
            adapter = registry.adapter(code, info.version, info.schemas)
        except AdapterError as exc:
            # The source cannot be opened (down, file missing, mapping no longer fits it):
            # to the consumer it is unavailable; the operator sees why in the log and /readyz.
            log.warning("source of %s cannot be opened: %s", code, exc.code)
            return Fetched(code, failure="unavailable")
        try:
            records = adapter.fetch_all(subject, sorted(wanted[code]))
        except AdapterError as exc:
            return Fetched(code, failure=exc.code)
        return Fetched(code, tuple(records), fetched_at=clock.now())

    if len(wanted) == 1:  # nothing to overlap: the adapter's own pool keeps its timeout
        return {code: one(code) for code in wanted}
    # Each fetch runs in the caller's context (the clock it reads: exchange.clock).
    futures = {code: pool.submit(copy_context().run, one, code) for code in sorted(wanted)}
    return {code: future.result() for code, future in futures.items()}


def _from_cache(registry: SourceRegistry, code: str, subject: str, fields: list[str]) -> Fetched:
    if registry.cache is None:
        return Fetched(code, failure="not_synced")
    try:
        records, as_of = registry.cache.read(code, subject, fields)
    except AdapterError as exc:
        return Fetched(code, failure=exc.code)
    return Fetched(code, tuple(records), fetched_at=as_of)
