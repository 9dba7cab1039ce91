"""The demo's source bindings: which mapping reads each resource, and where each store is.

The mappings are bundled YAML documents (``exchange/demo/mappings/*.yaml``, one per resource
``source.mapping``), written against the departments' legacy layouts
(:mod:`exchange.demo.legacy_schemas`). A mapping names a *connection*; :func:`connections`
says what each connection is for a set of :class:`~exchange.demo.legacy.LegacyTargets`:

* ``psb``, ``hrss``, ``mca``: SQL stores, ``{"url": ...}``;
* ``mca-files``, ``reg``: exports under the legacy root, ``{"root": ...}`` (the mappings'
  ``file`` is relative to it).

:func:`adapter_settings` is what ``tongban demo`` writes to ``DIR/adapters.json``. URLs there may
carry a password (the demo has none); :func:`safe_url` is the form to print.

:func:`build_legacy_world` is the legacy half of ``tongban demo``: it generates the city, writes
every department's store (SQLite and files under ``DIR/legacy``, or PSB / HRSS on the servers
given), samples the showcase subjects on the way, writes ``DIR/adapters.json`` and opens every
mapping against its store once, so a demo that builds is a demo whose sources can be read.
Nothing here prints or logs personal data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from adapters.base import AdapterLimits, SourceAdapter
from adapters.mapping import SourceMapping, parse_mapping
from adapters.registry import open_adapter
from catalogue.vocabulary import DescriptorKind
from exchange.demo.build import demo_descriptors
from exchange.demo.citizens import ShowcaseSampler, ShowcaseSubject, generate_city
from exchange.demo.legacy import LegacySummary, LegacyTargets, write_legacy_stores
from exchange.files import replacing_owner_only

__all__ = [
    "DEMO_CACHED",
    "FILE_CONNECTIONS",
    "LegacyWorld",
    "SourceBinding",
    "adapter_settings",
    "build_legacy_world",
    "check_bindings",
    "connections",
    "demo_bindings",
    "demo_mappings",
    "open_binding",
    "safe_url",
]

FILE_CONNECTIONS = ("mca-files", "reg")
"""Connections whose stores are export files under the legacy root."""

DEMO_CACHED: Mapping[str, Mapping[str, Any]] = {
    "HRSS-SB-0001": {"strategy": "watermark", "every_s": 3600},
    "REG-BDC-0001": {"strategy": "snapshot", "every_s": 86400},
}
"""What ``tongban demo`` caches (前置库 mode) and how: ``mode``/``sync`` of ``adapters.json``."""


@dataclass(frozen=True)
class SourceBinding:
    """A catalogue resource, the mapping that reads it, and its fields' JSON Schemas."""

    resource: str
    namespace: str
    mapping: SourceMapping
    field_schemas: Mapping[str, Mapping[str, Any]]

    @property
    def connection(self) -> str:
        return self.mapping.connection or ""


def demo_mappings() -> dict[str, SourceMapping]:
    """The bundled demo mappings by name."""
    folder = resources.files("exchange.demo").joinpath("mappings")
    found: dict[str, SourceMapping] = {}
    for entry in sorted(folder.iterdir(), key=lambda f: f.name):
        if entry.name.endswith(".yaml"):
            mapping = parse_mapping(yaml.safe_load(entry.read_text("utf-8")))
            found[mapping.name] = mapping
    return found


def demo_bindings() -> list[SourceBinding]:
    """One binding per demo resource, in catalogue order; every resource has its mapping."""
    mappings = demo_mappings()
    bindings = []
    for descriptor in demo_descriptors():
        if descriptor.kind is not DescriptorKind.RESOURCE:
            continue
        content = descriptor.content
        name = content["source"]["mapping"]
        if name not in mappings:
            raise LookupError(f"resource {descriptor.code} names mapping {name!r}, not bundled")
        schemas = {f["name"]: f["schema"] for f in content["fields"] if "schema" in f}
        bindings.append(
            SourceBinding(descriptor.code, content["namespace"], mappings[name], schemas)
        )
    return bindings


def connections(targets: LegacyTargets, root: Path) -> dict[str, dict[str, Any]]:
    """Adapter configuration of each connection the mappings name."""
    files = {name: {"root": str(root)} for name in FILE_CONNECTIONS}
    return {
        "psb": {"url": targets.psb_url},
        "hrss": {"url": targets.hrss_url},
        "mca": {"url": targets.mca_url},
        **files,
    }


def adapter_settings(
    targets: LegacyTargets, root: Path, cached: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """``DIR/adapters.json``: the connections, the mappings, and each resource's mapping and
    connection (the form :class:`exchange.sources.registry.SourceRegistry` reads); the
    resources in *cached* are bound ``mode: cached`` with that ``sync``."""
    cached = cached or {}
    return {
        "connections": connections(targets, root),
        "mappings": {b.mapping.name: dict(b.mapping.document) for b in demo_bindings()},
        "resources": {
            b.resource: {
                "mapping": b.mapping.name,
                "adapter": b.mapping.adapter,
                "connection": b.connection,
                **(
                    {"mode": "cached", "sync": dict(cached[b.resource])}
                    if b.resource in cached
                    else {}
                ),
            }
            for b in demo_bindings()
        },
    }


def open_binding(
    binding: SourceBinding,
    config: Mapping[str, Mapping[str, Any]],
    *,
    limits: AdapterLimits | None = None,
) -> SourceAdapter:
    """Open (and check) the adapter of *binding* with the connection settings in *config*."""
    return open_adapter(
        binding.connection,
        binding.mapping,
        config[binding.connection],
        limits=limits,
        field_schemas=binding.field_schemas,
    )


def safe_url(url: str) -> str:
    """A URL fit to print: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class LegacyWorld:
    """What :func:`build_legacy_world` made: where the stores are, what they hold, who to try."""

    root: Path
    targets: LegacyTargets
    summary: LegacySummary
    subjects: tuple[ShowcaseSubject, ...]
    adapters_file: Path

    def stores(self) -> dict[str, list[str]]:
        """Each department's stores, printable (passwords hidden)."""
        t = self.targets
        return {
            "PSB": [safe_url(t.psb_url)],
            "HRSS": [safe_url(t.hrss_url)],
            "MCA": [safe_url(t.mca_url), str(t.dibao_csv)],
            "REG": [str(t.reg_export)],
        }

    def rows(self) -> dict[str, dict[str, int]]:
        """Rows (or lines) per department and table or file."""
        grouped: dict[str, dict[str, int]] = {}
        for name, count in sorted(self.summary.rows.items()):
            department, _, table = name.partition(".")
            grouped.setdefault(department, {})[table] = count
        return grouped

    def subject_kinds(self) -> dict[str, int]:
        """How many showcase subjects of each kind (never who they are)."""
        kinds: dict[str, int] = {}
        for subject in self.subjects:
            kinds[subject.kind] = kinds.get(subject.kind, 0) + 1
        return kinds

    def as_json(self) -> dict[str, Any]:
        return {
            "citizens": self.summary.citizens,
            "households": self.summary.households,
            "stores": self.stores(),
            "rows": self.rows(),
            "subject_kinds": self.subject_kinds(),
            "adapters_file": str(self.adapters_file),
        }


def build_legacy_world(
    data_dir: Path,
    *,
    citizens: int,
    seed: int = 2026,
    psb_url: str | None = None,
    hrss_url: str | None = None,
    cached: Mapping[str, Mapping[str, Any]] | None = None,
) -> LegacyWorld:
    """Generate the city and (re)write every legacy store; see the module docstring.
    *cached* names resources bound as cached (``tongban demo`` passes ``DEMO_CACHED``)."""
    root = data_dir.resolve() / "legacy"  # absolute: adapters.json works from anywhere
    local = LegacyTargets.in_directory(root)
    targets = LegacyTargets(
        psb_url=psb_url or local.psb_url,
        hrss_url=hrss_url or local.hrss_url,
        mca_url=local.mca_url,
        reg_export=local.reg_export,
        dibao_csv=local.dibao_csv,
    )
    sampler = ShowcaseSampler()
    summary = write_legacy_stores(sampler.watch(generate_city(citizens, seed)), targets)
    adapters_file = data_dir / "adapters.json"
    _write_private(adapters_file, adapter_settings(targets, root, cached))
    check_bindings(connections(targets, root))
    subjects = tuple(sampler.subjects())
    return LegacyWorld(root, targets, summary, subjects, adapters_file)


def check_bindings(config: Mapping[str, Mapping[str, Any]]) -> None:
    """Open every demo mapping against its store (``MappingError`` if one does not fit)."""
    for binding in demo_bindings():
        open_binding(binding, config).close()


def _write_private(path: Path, document: Mapping[str, Any]) -> None:
    """Write *document* as JSON readable by the owner only (URLs could hold passwords)."""
    with replacing_owner_only(path) as handle:
        json.dump(document, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
