"""Where each catalogue resource's data comes from: the hub's adapter configuration.

The configuration is one JSON document (``TONGBAN_ADAPTERS_FILE``; ``tongban demo`` writes
``DIR/adapters.json``), readable by the hub's operator only, since connection URLs can carry
passwords::

    {"connections": {"psb": {"url": "mysql+pymysql://…", "timeout_s": 2.0}, …},
     "mappings":    {"psb/household": {<mapping document>}, …},
     "resources":   {"PSB-HJ-0001": {"mapping": "psb/household", "connection": "psb"},
                     "HRSS-SB-0001": {"mapping": "hrss/social_insurance", "connection": "hrss",
                                      "mode": "cached",
                                      "sync": {"strategy": "watermark", "every_s": 3600}}, …}}

A connection's strings may name a secret kept outside the file, ``${env:NAME}`` or
``${file:/path}`` (``exchange/sources/references.py``), resolved when the file is read; the
file's JSON Schema is ``schemas/json/adapters.schema.json`` (docs/deployment.md).

A resource is ``live`` (read from its source at query time, the default) or ``cached``
(前置库 mode: synced on a schedule into the hub's encrypted cache, and read from there; see
``exchange/sources/cache`` and docs/cache.md). ``sync.strategy`` is ``watermark`` (needs the
mapping's watermark column, one record per subject) or ``snapshot`` (read everything and diff:
a mapping with a watermark column, or a file export); ``every_s`` is at least 60 (default 3600);
``batch_rows`` (default 1000) records are written per transaction.

Every mapping a resource names must be in ``mappings`` (the demo writes its own there; no
mapping is looked up anywhere else). Adapters are opened on first use, with the field schemas of
the resource version being served, and checked against their source then (a mapping naming a
missing column is refused before any query reads it). A resource without a binding is not
fetchable: its attributes come back ``unavailable`` (``not_bound``), never an error of the whole
request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from adapters.base import AdapterLimits, HealthReport, SourceAdapter, SourceRecord
from adapters.errors import AdapterError, MappingError
from adapters.mapping import MappingProblem, SourceMapping, parse_mapping
from adapters.registry import open_adapter
from exchange.sources.errors import AdapterConfigError
from exchange.sources.references import resolve_references

HEALTH_MAX_AGE_S = 15.0

__all__ = ["AdapterConfigError", "CachedSource", "SourceBinding", "SourceRegistry", "SyncPlan"]

_LIMIT_KEYS = {"timeout_s", "max_record_bytes", "max_concurrency", "max_records"}
_MIN_EVERY_S = 60
_MAX_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class SyncPlan:
    """How a cached resource is refreshed: ``watermark`` or ``snapshot``, every ``every_s``,
    ``batch_rows`` records per transaction."""

    strategy: str
    every_s: int = 3600
    batch_rows: int = 1000


@dataclass(frozen=True)
class SourceBinding:
    """A resource's mapping, connection settings and limits; ``mode`` ``live`` or ``cached``
    (then ``sync`` says how the cache is refreshed)."""

    resource: str
    mapping: SourceMapping
    connection: str
    config: Mapping[str, Any]
    limits: AdapterLimits
    mode: str = "live"
    sync: SyncPlan | None = None

    @property
    def cached(self) -> bool:
        return self.mode == "cached"


class CachedSource(Protocol):
    """The hub-side cache as the query path reads it (``exchange.sources.cache.reader``): a
    subject's records restricted to *fields*, and the cache's as-of time. Raises an
    ``AdapterError`` (``not_synced``, …) when it cannot answer."""

    def read(
        self, resource: str, subject: str, fields: Sequence[str]
    ) -> tuple[list[SourceRecord], datetime]: ...


class SourceRegistry:
    """The bindings of every configured resource, and their adapters once opened. ``cache``
    is set by the app factory; cached resources are read through it."""

    def __init__(self, bindings: Mapping[str, SourceBinding]) -> None:
        self._bindings = dict(bindings)
        self.cache: CachedSource | None = None
        self._open: dict[tuple[str, int], SourceAdapter] = {}
        self._probes: dict[str, SourceAdapter] = {}  # opened for health checks only
        self._lock = threading.Lock()
        self._health_lock = threading.Lock()
        self._health: tuple[float, dict[str, HealthReport]] | None = None

    @classmethod
    def empty(cls) -> SourceRegistry:
        return cls({})

    @classmethod
    def from_file(cls, path: Path | None) -> SourceRegistry:
        """The registry of ``path``; an empty one when no file is configured or it is absent."""
        if path is None or not path.is_file():
            return cls.empty()
        try:
            document = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise AdapterConfigError(f"{path.name} is not a readable JSON document") from None
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> SourceRegistry:
        connections = document.get("connections") or {}
        documents = document.get("mappings") or {}
        bindings: dict[str, SourceBinding] = {}
        resolved: dict[str, dict[str, Any]] = {}
        for resource, entry in (document.get("resources") or {}).items():
            name, connection = entry.get("mapping"), entry.get("connection")
            if connection not in connections:
                raise AdapterConfigError(f"resource {resource} names no known connection")
            mapping = _mapping(name, documents)
            if connection not in resolved:
                resolved[connection] = resolve_references(connection, connections[connection])
            config = resolved[connection]
            limits = AdapterLimits(**{k: v for k, v in config.items() if k in _LIMIT_KEYS})
            mode, plan = _mode(resource, entry, mapping)
            bindings[resource] = SourceBinding(
                resource, mapping, connection, config, limits, mode, plan
            )
        return cls(bindings)

    def bound(self) -> list[str]:
        """The resources with a binding, sorted."""
        return sorted(self._bindings)

    def binding(self, resource: str) -> SourceBinding | None:
        return self._bindings.get(resource)

    def adapter(
        self, resource: str, version: int, field_schemas: Mapping[str, Mapping[str, Any]]
    ) -> SourceAdapter:
        """The open adapter of *resource* for catalogue *version* (opened and checked on first
        use). ``MappingError`` when the resource has no binding or its mapping does not fit."""
        binding = self._bindings.get(resource)
        if binding is None:
            raise MappingError(resource, "no source is bound to this resource")
        key = (resource, version)
        with self._lock:
            opened = self._open.get(key)
            if opened is None:
                opened = open_adapter(
                    f"{binding.connection}:{resource}",
                    binding.mapping,
                    binding.config,
                    limits=binding.limits,
                    field_schemas=field_schemas,
                )
                for (other, _), stale in list(self._open.items()):
                    if other == resource:  # a newer version replaced it
                        stale.close()
                        del self._open[(other, _)]
                self._open[key] = opened
        return opened

    def health(self) -> dict[str, HealthReport]:
        """Each bound resource's source health, checked concurrently; never raises."""
        if not self._bindings:
            return {}
        with ThreadPoolExecutor(min(8, len(self._bindings))) as pool:
            reports = pool.map(self._health_of, self._bindings.values())
            return {r.adapter: r for r in reports}

    def recent_health(self, max_age_s: float = HEALTH_MAX_AGE_S) -> dict[str, HealthReport]:
        """:meth:`health` at most ``max_age_s`` old. One probe runs at a time and callers
        meanwhile wait for its result, so any number of readiness requests (anonymous ones
        included) probe each department's source at most once per ``max_age_s``."""
        with self._health_lock:
            if self._health is None or time.monotonic() - self._health[0] > max_age_s:
                self._health = (time.monotonic(), self.health())
            return self._health[1]

    def close(self) -> None:
        with self._lock:
            for adapter in [*self._open.values(), *self._probes.values()]:
                adapter.close()
            self._open.clear()
            self._probes.clear()

    def _health_of(self, binding: SourceBinding) -> HealthReport:
        try:
            adapter = self._probe(binding)
        except AdapterError as exc:
            return HealthReport(binding.resource, False, 0.0, exc.code)
        report = adapter.health()
        return HealthReport(binding.resource, report.ok, report.latency_ms, report.detail)

    def _probe(self, binding: SourceBinding) -> SourceAdapter:
        """An open adapter of *binding*: the serving one if any, else one kept for probing."""
        with self._lock:
            for (resource, _), adapter in self._open.items():
                if resource == binding.resource:
                    return adapter
            probe = self._probes.get(binding.resource)
        if probe is None:
            probe = open_adapter(
                f"{binding.connection}:{binding.resource}",
                binding.mapping,
                binding.config,
                limits=binding.limits,
            )
            with self._lock:
                kept = self._probes.setdefault(binding.resource, probe)
            if kept is not probe:
                probe.close()
            probe = kept
        return probe


def _mode(
    resource: str, entry: Mapping[str, Any], mapping: SourceMapping
) -> tuple[str, SyncPlan | None]:
    """The binding's ``mode`` and, for a cached one, its checked :class:`SyncPlan`."""
    mode = entry.get("mode", "live")
    if mode not in ("live", "cached"):
        raise AdapterConfigError(f"resource {resource}: mode is 'live' or 'cached'")
    sync = entry.get("sync")
    if mode == "live":
        if sync is not None:
            raise AdapterConfigError(f"resource {resource}: sync applies to cached resources")
        return mode, None
    sync = {} if sync is None else sync
    if not isinstance(sync, Mapping) or set(sync) - {"strategy", "every_s", "batch_rows"}:
        raise AdapterConfigError(
            f"resource {resource}: sync has strategy, every_s and batch_rows only"
        )
    default = "watermark" if mapping.watermark is not None and not mapping.many else "snapshot"
    strategy, every_s = sync.get("strategy", default), sync.get("every_s", 3600)
    batch_rows = sync.get("batch_rows", 1000)
    if type(every_s) is not int or every_s < _MIN_EVERY_S:
        raise AdapterConfigError(
            f"resource {resource}: sync.every_s is a whole number of seconds, at least 60"
        )
    if type(batch_rows) is not int or not 1 <= batch_rows <= _MAX_BATCH_ROWS:
        raise AdapterConfigError(
            f"resource {resource}: sync.batch_rows is a whole number from 1 to {_MAX_BATCH_ROWS}"
        )
    if strategy == "watermark":
        if mapping.watermark is None:
            raise AdapterConfigError(
                f"resource {resource}: the watermark strategy needs a mapping watermark column"
            )
        if mapping.many:
            raise AdapterConfigError(
                f"resource {resource}: a records: many mapping is cached by snapshot only"
                " (a change does not say which of a subject's records it replaces)"
            )
    elif strategy == "snapshot":
        if mapping.watermark is None and mapping.file is None:
            raise AdapterConfigError(
                f"resource {resource}: a snapshot needs a file export or a watermark column"
                " to enumerate the source"
            )
    else:
        raise AdapterConfigError(f"resource {resource}: sync.strategy is watermark or snapshot")
    return mode, SyncPlan(strategy, every_s, batch_rows)


def _mapping(name: object, documents: Mapping[str, Any]) -> SourceMapping:
    if not isinstance(name, str):
        raise AdapterConfigError("every resource names its mapping")
    document = documents.get(name)
    if document is None:
        raise AdapterConfigError(f"no mapping named {name!r} in the adapters file's mappings")
    try:
        return parse_mapping(document)
    except MappingProblem as exc:
        raise AdapterConfigError(f"mapping {name!r} at {exc.where}: {exc.reason}") from None
