"""Resolve what a query asks for against the catalogue: attributes to fields, with their
resource, version, sharing type and methods, sensitivity and schema; a service item to its
attributes.

An attribute is ``<namespace>.<field>`` or ``<namespace>.<predicate>(<argument>)``; the
namespace names one resource (``household`` → PSB-HJ-0001), whose latest published version is
used. A service item contributes its attributes with their purpose and legal basis; when the
query lists attributes too, each must be one of the item's, or a predicate over one of them.

A service item the catalogue does not have is the catalogue's own
:class:`catalogue.errors.ServiceItemNotFound` (404 ``service_item_not_found``), the same answer
as ``GET /catalogue/service-items/{code}`` gives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy.orm import Session

from catalogue.errors import ServiceItemNotFound
from catalogue.models import Resource, ResourceVersion, ServiceItem, ServiceItemVersion
from catalogue.reading import latest_versions
from catalogue.vocabulary import ReleaseTransform, Sensitivity, SharingMethod, SharingType
from exchange.changes import Cached, Domain
from exchange.query.errors import ForeignServiceItem, UnknownAttribute
from policies.model import AttributeRequest, FieldInfo
from policies.transforms import DERIVATION_BASE, parse_derivation

__all__ = [
    "ResolvedQuery",
    "ResourceInfo",
    "resolve_query",
]

_ATTRIBUTE = re.compile(
    r"(?P<namespace>[a-z][a-z0-9_]{0,39})\.(?P<rest>[a-z][a-z0-9_]{0,62}(\([0-9]{0,12}\))?)"
)


@dataclass(frozen=True)
class ResourceInfo:
    """A resource as served: its latest version, its provider and its fields' schemas."""

    code: str
    version: int
    provider: str
    namespace: str
    fields: Mapping[str, FieldInfo]
    schemas: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class ResolvedQuery:
    requests: tuple[AttributeRequest, ...]
    resources: Mapping[str, ResourceInfo] = field(default_factory=dict)


def resolve_query(
    session: Session,
    *,
    attributes: Sequence[str] | None,
    service_item: str | None,
    department: str,
) -> ResolvedQuery:
    """The attribute requests of a query (``UnknownAttribute``, ``ServiceItemNotFound``,
    ``ForeignServiceItem``), in the order asked, without duplicates."""
    entries = _item_entries(session, service_item, department) if service_item else None
    names = list(dict.fromkeys(attributes or (entries or {}).keys()))
    parsed = [_parse(name) for name in names]
    resources = _resources(session, {namespace for _, namespace, _, _ in parsed})
    requests = []
    for name, namespace, field_name, derivation in parsed:
        info = resources.get(namespace)
        if info is None or field_name not in info.fields:
            raise UnknownAttribute(f"no attribute {name!r} in the catalogue")
        entry = None
        if entries is not None:
            entry = entries.get(name) or entries.get(f"{namespace}.{field_name}")
            if entry is None:
                raise UnknownAttribute(f"{name!r} is not an attribute of {service_item}")
        requests.append(
            AttributeRequest(
                attribute=name,
                field=info.fields[field_name],
                derivation=derivation,
                legal_basis=entry.get("legal_basis") if entry else None,
                item_purpose=entry.get("purpose") if entry else None,
                required=bool(entry.get("required", True)) if entry else True,
            )
        )
    by_code = {info.code: info for info in resources.values()}
    return ResolvedQuery(tuple(requests), by_code)


def _parse(name: str) -> tuple[str, str, str, Any]:
    match = _ATTRIBUTE.fullmatch(name)
    if match is None:
        raise UnknownAttribute("an attribute is namespace.field or namespace.predicate(arg)")
    derivation = parse_derivation(match["rest"])
    if derivation is None:
        return name, match["namespace"], match["rest"], None
    return name, match["namespace"], DERIVATION_BASE[derivation.predicate], derivation


@dataclass(frozen=True)
class _Item:
    """A service item as the exchange resolves it: its owner and its latest published
    version's attributes (None when it has no published version)."""

    owner: str
    entries: Mapping[str, Mapping[str, Any]] | None


def _read_item(session: Session, code: str) -> _Item | None:
    item = session.get(ServiceItem, code)
    if item is None:
        return None
    row = session.get(ServiceItemVersion, (code, item.latest_version))
    if row is None:
        return _Item(item.owner_code, None)
    entries = {entry["attribute"]: entry for entry in row.descriptor["attributes"]}
    return _Item(item.owner_code, MappingProxyType(entries))


def _read_resource(session: Session, namespace: str) -> ResourceInfo | None:
    found = session.execute(latest_versions().where(Resource.namespace == namespace)).first()
    return None if found is None else _info(*found)


_ITEMS: Cached[str, _Item | None] = Cached(Domain.CATALOGUE, _read_item)
_RESOURCES: Cached[str, ResourceInfo | None] = Cached(Domain.CATALOGUE, _read_resource)
"""Service items and resources as resolved, read once per change of the catalogue."""


def _item_entries(session: Session, code: str, department: str) -> Mapping[str, Mapping[str, Any]]:
    item = _ITEMS.get(session, code)
    if item is None:
        raise ServiceItemNotFound(f"no service item with code {code!r}")
    if item.owner != department:
        raise ForeignServiceItem(f"service item {code} belongs to another department")
    if item.entries is None:
        raise ServiceItemNotFound(f"service item {code!r} has no published version")
    return item.entries


def _resources(session: Session, namespaces: set[str]) -> dict[str, ResourceInfo]:
    found = {namespace: _RESOURCES.get(session, namespace) for namespace in sorted(namespaces)}
    return {namespace: info for namespace, info in found.items() if info is not None}


def _info(resource: Resource, version: ResourceVersion) -> ResourceInfo:
    fields = {}
    schemas = {}
    methods = frozenset(SharingMethod(m) for m in version.descriptor["sharing"]["method"])
    for spec in version.descriptor["fields"]:
        fields[spec["name"]] = FieldInfo(
            resource=resource.code,
            version=version.version,
            provider=resource.provider_code,
            namespace=resource.namespace,
            name=spec["name"],
            sharing=SharingType(spec["sharing"]["type"]),
            sensitivity=Sensitivity(spec["sensitivity"]),
            transform=ReleaseTransform(spec.get("transform", "clear")),
            methods=methods,
            consent_waived_by=frozenset(spec.get("consent_waived_by", ())),
        )
        if "schema" in spec:
            schemas[spec["name"]] = spec["schema"]
    return ResourceInfo(
        resource.code,
        version.version,
        resource.provider_code,
        resource.namespace,
        MappingProxyType(fields),
        MappingProxyType(schemas),
    )
