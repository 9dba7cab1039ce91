"""Where each catalogue resource's data comes from: the hub's adapter configuration.

The configuration is one JSON document (``TONGBAN_ADAPTERS_FILE``; ``tongban demo`` writes
``DIR/adapters.json``), readable by the hub's operator only, since connection URLs can carry
passwords::

    {"connections": {"psb": {"url": "mysql+pymysql://…", "timeout_s": 2.0}, …},
     "mappings":    {"psb/household": {<mapping document>}, …},
     "resources":   {"PSB-HJ-0001": {"mapping": "psb/household", "connection": "psb"}, …}}

A mapping named by a resource but not in ``mappings`` is looked up among the bundled demo
mappings. Adapters are opened on first use, with the field schemas of the resource version
being served, and checked against their source then (a mapping naming a missing column is
refused before any query reads it). A resource without a binding is not fetchable: its
attributes come back ``unavailable`` (``not_bound``), never an error of the whole request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.base import AdapterLimits, HealthReport, SourceAdapter
from adapters.errors import AdapterError, MappingError
from adapters.mapping import MappingProblem, SourceMapping, parse_mapping
from adapters.registry import open_adapter
from schemas import TongbanError

__all__ = ["AdapterConfigError", "SourceBinding", "SourceRegistry"]

_LIMIT_KEYS = {"timeout_s", "max_record_bytes", "max_concurrency", "max_records"}


class AdapterConfigError(TongbanError):
    code = "invalid_adapter_config"
    title = "Invalid adapter configuration"


@dataclass(frozen=True)
class SourceBinding:
    """A resource's mapping, connection settings and limits."""

    resource: str
    mapping: SourceMapping
    connection: str
    config: Mapping[str, Any]
    limits: AdapterLimits


class SourceRegistry:
    """The bindings of every configured resource, and their adapters once opened."""

    def __init__(self, bindings: Mapping[str, SourceBinding]) -> None:
        self._bindings = dict(bindings)
        self._open: dict[tuple[str, int], SourceAdapter] = {}
        self._probes: dict[str, SourceAdapter] = {}  # opened for health checks only
        self._lock = threading.Lock()

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
        for resource, entry in (document.get("resources") or {}).items():
            name, connection = entry.get("mapping"), entry.get("connection")
            if connection not in connections:
                raise AdapterConfigError(f"resource {resource} names no known connection")
            mapping = _mapping(name, documents)
            config = connections[connection]
            limits = AdapterLimits(**{k: v for k, v in config.items() if k in _LIMIT_KEYS})
            bindings[resource] = SourceBinding(resource, mapping, connection, config, limits)
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


def _mapping(name: object, documents: Mapping[str, Any]) -> SourceMapping:
    if not isinstance(name, str):
        raise AdapterConfigError("every resource names its mapping")
    document = documents.get(name)
    if document is None:
        from exchange.demo.sources import demo_mappings

        bundled = demo_mappings().get(name)
        if bundled is None:
            raise AdapterConfigError(f"no mapping named {name!r}")
        return bundled
    try:
        return parse_mapping(document)
    except MappingProblem as exc:
        raise AdapterConfigError(f"mapping {name!r} at {exc.where}: {exc.reason}") from None
