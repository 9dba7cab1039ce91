"""One data item, one source (一数一源): the designated source department (数源部门) of each
data element in the catalogue.

A field that names a ``data_element`` (its identifier in the data element standard the catalogue
follows) is that data item; its source department is its ``source_department``, else its
resource's provider. A field whose resource's provider *is* that source department claims to be
the data item's source. Across the latest versions of the live (not deprecated) resources:

- two resources may not both claim to be the source of one data element;
- every field carrying a data element names the same source department as the claim.

:func:`source_conflicts` checks a descriptor about to be published against the registry and
reports each conflicting field by its JSON pointer; fields without a ``data_element`` are their
resource's own data and take no part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from catalogue import reading
from catalogue.models import Resource
from schemas import ProblemDetail

__all__ = ["DataItem", "data_items", "designated_sources", "source_conflicts", "source_of"]


@dataclass(frozen=True)
class DataItem:
    """A field that carries a data element, as one resource states it."""

    element: str
    resource: str
    field: str
    source: str  # the designated source department
    claims: bool  # the resource's provider is that source department


def source_of(content: Mapping[str, Any], field: Mapping[str, Any]) -> str:
    """The designated source department of *field* of the resource *content*."""
    return str(field.get("source_department") or content["provider"])


def data_items(content: Mapping[str, Any]) -> Iterable[tuple[int, DataItem]]:
    """The fields of *content* that carry a data element, with their index."""
    for i, field in enumerate(content["fields"]):
        element = field.get("data_element")
        if element:
            source = source_of(content, field)
            yield (
                i,
                DataItem(
                    str(element),
                    str(content["code"]),
                    str(field["name"]),
                    source,
                    source == content["provider"],
                ),
            )


def source_conflicts(session: Session, content: Mapping[str, Any]) -> list[ProblemDetail]:
    """The fields of *content* that break 一数一源 against the other live resources."""
    mine = list(data_items(content))
    if not mine:
        return []
    elements = {item.element for _, item in mine}
    others = _registered(session, str(content["code"]), elements)
    problems: list[ProblemDetail] = []
    for i, item in mine:
        at = f"/fields/{i}/data_element"
        claim = next((o for o in others if o.element == item.element and o.claims), None)
        if item.claims and claim is not None:
            detail = (
                f"data element {item.element} already has its source in resource "
                f"{claim.resource} (field {claim.field}, department {claim.source})"
            )
            problems.append(ProblemDetail(pointer=at, detail=detail))
        elif claim is None and item.claims:
            named = next((o for o in others if o.element == item.element), None)
            if named is not None and named.source != item.source:
                detail = (
                    f"resource {named.resource} names department {named.source} as the source "
                    f"of data element {item.element}"
                )
                problems.append(ProblemDetail(pointer=at, detail=detail))
        elif claim is not None and claim.source != item.source:
            detail = (
                f"the source of data element {item.element} is department {claim.source} "
                f"(resource {claim.resource}), not {item.source}"
            )
            problems.append(ProblemDetail(pointer=at, detail=detail))
    return problems


def _registered(session: Session, code: str, elements: set[str]) -> list[DataItem]:
    rows = session.execute(
        reading.latest_versions().where(Resource.code != code, Resource.deprecated_at.is_(None))
    )
    found: list[DataItem] = []
    for _resource, version in rows:
        found.extend(item for _, item in data_items(version.descriptor) if item.element in elements)
    return found


def designated_sources(session: Session) -> dict[str, DataItem]:
    """Each data element with a claimed source in the live catalogue, and that claim."""
    rows = session.execute(reading.latest_versions().where(Resource.deprecated_at.is_(None)))
    claims: dict[str, DataItem] = {}
    for _resource, version in rows:
        for _, item in data_items(version.descriptor):
            if item.claims:
                claims.setdefault(item.element, item)
    return claims
