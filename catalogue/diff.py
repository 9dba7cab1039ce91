"""Field-level differences between two versions of a resource descriptor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["resource_diff"]


def resource_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from ``old`` to ``new``: fields added, removed, changed (per attribute,
    ``from``/``to``) and whether the fields kept their order; and the resource-level elements
    that changed. With ``old`` None every field is added."""
    old_fields = {f["name"]: f for f in old["fields"]} if old else {}
    new_fields = {f["name"]: f for f in new["fields"]}
    changed: dict[str, dict[str, Any]] = {}
    for name in sorted(old_fields.keys() & new_fields.keys()):
        delta = _changes(old_fields[name], new_fields[name])
        if delta:
            changed[name] = delta
    common_old = [name for name in old_fields if name in new_fields]
    common_new = [name for name in new_fields if name in old_fields]
    return {
        "fields_reordered": common_old != common_new,
        "fields_added": sorted(new_fields.keys() - old_fields.keys(), key=list(new_fields).index),
        "fields_removed": sorted(old_fields.keys() - new_fields.keys()),
        "fields_changed": changed,
        "metadata_changed": _changes(
            {k: v for k, v in (old or {}).items() if k != "fields"},
            {k: v for k, v in new.items() if k != "fields"},
        )
        if old
        else {},
    }


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: {"from": old.get(key), "to": new.get(key)}
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    }
