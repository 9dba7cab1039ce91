"""Fetch the permitted fields from each department's source, concurrently.

Only the fields the decision lets through (``Decision.fields_to_fetch``) are asked for; each
resource's read starts on its adapter's own pool, which enforces its timeout, and all are then
waited for, so the fan-out costs about as much as the slowest source, not the sum, and each
source one trip to a thread. A source that fails makes its attributes ``unavailable`` with the
reason code of the typed adapter error; nothing else is affected.

A *cached* resource (前置库 mode, ``exchange/sources/cache``) is read from the hub's encrypted cache
instead (``SourceRegistry.cache``), and its ``fetched_at`` is the cache's as-of time, so the
provenance says how old the data is; never synced, it is ``unavailable`` (``not_synced``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
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
    registry: SourceRegistry,
    subject: str,
    resources: Mapping[str, ResourceInfo],
    wanted: Mapping[str, set[str]],
) -> dict[str, Fetched]:
    """Each wanted resource's records for *subject*: every source's read is started on its
    adapter's own pool (which keeps its timeout), then each is waited for, so the reads overlap
    and each costs one trip to a thread; a cached resource is read here."""
    started = {
        code: _start(registry, code, subject, resources[code], wanted[code])
        for code in sorted(wanted)
    }
    return {code: finish() for code, finish in started.items()}


def _start(
    registry: SourceRegistry, code: str, subject: str, info: ResourceInfo, fields: set[str]
) -> Callable[[], Fetched]:
    """Start reading one resource; the returned call waits for it."""
    binding = registry.binding(code)
    if binding is None:
        return _done(Fetched(code, failure="not_bound"))
    if binding.cached:
        return _done(_from_cache(registry, code, subject, sorted(fields)))
    try:
        adapter = registry.adapter(code, info.version, info.schemas)
    except AdapterError as exc:
        # The source cannot be opened (down, file missing, mapping no longer fits it): to the
        # consumer it is unavailable; the operator sees why in the log and /readyz.
        log.warning("source of %s cannot be opened: %s", code, exc.code)
        return _done(Fetched(code, failure="unavailable"))
    try:
        pending = adapter.begin_fetch_all(subject, sorted(fields))
    except AdapterError as exc:
        return _done(Fetched(code, failure=exc.code))

    def finish() -> Fetched:
        try:
            records = pending.result()
        except AdapterError as exc:
            return Fetched(code, failure=exc.code)
        return Fetched(code, tuple(records), fetched_at=clock.now())

    return finish


def _done(fetched: Fetched) -> Callable[[], Fetched]:
    return lambda: fetched


def _from_cache(registry: SourceRegistry, code: str, subject: str, fields: list[str]) -> Fetched:
    if registry.cache is None:
        return Fetched(code, failure="not_synced")
    try:
        records, as_of = registry.cache.read(code, subject, fields)
    except AdapterError as exc:
        return Fetched(code, failure=exc.code)
    return Fetched(code, tuple(records), fetched_at=as_of)
