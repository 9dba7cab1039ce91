"""Load the bundled schemas and build validators with a shared ``referencing`` registry."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_BASE = "https://tongban.example/schemas/"

SCHEMA_NAMES = (
    "adapters",
    "agreement",
    "audit-entry",
    "consent-artefact",
    "department",
    "evidence",
    "mapping",
    "resource",
    "service-item",
    "system",
)


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``name`` (one of :data:`SCHEMA_NAMES`)."""
    if name not in SCHEMA_NAMES:
        raise KeyError(name)
    text = resources.files("schemas").joinpath("json", f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _registry() -> Registry[Any]:
    pairs = [
        (_BASE + f"{name}.schema.json", Resource.from_contents(load_schema(name), DRAFT202012))
        for name in SCHEMA_NAMES
    ]
    return Registry().with_resources(pairs)


@cache
def validator(name: str) -> Validator:
    """A Draft 2020-12 validator for schema ``name``, with format checking on."""
    return Draft202012Validator(
        load_schema(name),
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
