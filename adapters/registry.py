"""Finding adapters: every adapter, built-in or not, registers in the entry-point group
``tongban.adapters`` under its ``kind``."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from adapters.base import AdapterLimits, SourceAdapter
from adapters.errors import MappingError
from adapters.mapping import SourceMapping

__all__ = ["GROUP", "adapter_kinds", "open_adapter"]

GROUP = "tongban.adapters"


def adapter_kinds() -> dict[str, type[SourceAdapter]]:
    """Installed adapter classes by kind."""
    found: dict[str, type[SourceAdapter]] = {}
    for entry in entry_points(group=GROUP):
        loaded = entry.load()
        if isinstance(loaded, type) and issubclass(loaded, SourceAdapter):
            found[entry.name] = loaded
    return found


def open_adapter(
    name: str,
    mapping: SourceMapping,
    config: Mapping[str, Any],
    *,
    limits: AdapterLimits | None = None,
    field_schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> SourceAdapter:
    """Build the adapter of ``mapping.adapter`` and check its mapping against the source."""
    kinds = adapter_kinds()
    cls = kinds.get(mapping.adapter)
    if cls is None:
        known = ", ".join(sorted(kinds)) or "none"
        raise MappingError(name, f"no adapter of kind {mapping.adapter!r} (installed: {known})")
    adapter = cls.from_config(name, mapping, config, limits=limits, field_schemas=field_schemas)
    try:
        adapter.check_mapping()
    except BaseException:
        adapter.close()
        raise
    return adapter
