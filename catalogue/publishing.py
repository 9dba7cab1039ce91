"""Publishing descriptors into the registry: departments, resources, service items.

Every function takes the caller's session and never commits: the caller owns the unit of work.
Publishing a resource or service item whose normalised content equals the latest version creates
nothing; anything else becomes a new immutable version with a field-level diff. Cross-references
are checked here, against the registry, and reported with the JSON pointer of the element; so is
一数一源 (:mod:`catalogue.data_items`): a data element has one designated source department.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue import search
from catalogue.data_items import source_conflicts
from catalogue.descriptors import Descriptor
from catalogue.diff import resource_diff
from catalogue.errors import (
    DataSourceConflict,
    InvalidDescriptor,
    NamespaceTaken,
    ResourceDeprecated,
    ResourceNotFound,
)
from catalogue.identifiers import check_uscc
from catalogue.models import (
    Department,
    Resource,
    ResourceField,
    ResourceVersion,
    ServiceItem,
    ServiceItemVersion,
)
from catalogue.vocabulary import DescriptorKind, SharingType
from schemas import ProblemDetail

__all__ = ["PublishOutcome", "check_publishable", "deprecate_resource", "publish"]


@dataclass(frozen=True)
class PublishOutcome:
    """What a publish did: ``created`` False means the content was identical (no new version)."""

    kind: DescriptorKind
    code: str
    version: int | None
    created: bool
    diff: dict[str, Any] | None = None
    warnings: list[ProblemDetail] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "code": self.code,
            "version": self.version,
            "created": self.created,
            "diff": self.diff,
            "warnings": [dict(w) for w in self.warnings],
        }


def publish(session: Session, descriptor: Descriptor, *, by: str, now: datetime) -> PublishOutcome:
    """Publish one checked descriptor as ``by`` (an officer or operator id) at ``now``."""
    if descriptor.kind is DescriptorKind.DEPARTMENT:
        return _publish_department(session, descriptor, now)
    if descriptor.kind is DescriptorKind.RESOURCE:
        return _publish_resource(session, descriptor, by, now)
    return _publish_service_item(session, descriptor, by, now)


def check_publishable(session: Session, descriptor: Descriptor) -> None:
    """Refuse, as :func:`publish` would, a resource descriptor the registry cannot take (an
    unknown provider, a namespace taken or changed, a deprecated resource, a data item with
    another designated source), writing nothing: a submission is checked so before review."""
    content = descriptor.content
    _require_department(session, content["provider"], "/provider")
    resource = session.get(Resource, descriptor.code)
    _check_namespace(session, resource, descriptor)
    if resource is not None and resource.deprecated_at is not None:
        raise ResourceDeprecated(f"resource {descriptor.code!r} is deprecated")
    conflicts = source_conflicts(session, content)
    if conflicts:
        raise DataSourceConflict(
            "a data item has one designated source department (一数一源)", errors=conflicts
        )


def deprecate_resource(session: Session, code: str, *, reason: str, now: datetime) -> Resource:
    """Mark a resource deprecated: it leaves search results and can take no new versions."""
    resource = session.get(Resource, code, with_for_update=True)
    if resource is None:
        raise ResourceNotFound(f"no resource with code {code!r}")
    if resource.deprecated_at is None:
        resource.deprecated_at = now
        resource.deprecation_reason = reason
        resource.updated_at = now
    return resource


def _publish_department(session: Session, descriptor: Descriptor, now: datetime) -> PublishOutcome:
    content = descriptor.content
    warnings: list[ProblemDetail] = []
    check_ok: bool | None = None
    if "uscc" in content:
        check = check_uscc(content["uscc"])
        check_ok = check.check_ok
        if not check.check_ok:
            warnings.append(
                ProblemDetail(
                    pointer="/uscc",
                    detail="the check character does not match GB 32100; kept as given",
                )
            )
    department = session.get(Department, descriptor.code, with_for_update=True)
    if department is not None and department.digest == descriptor.digest:
        return PublishOutcome(descriptor.kind, descriptor.code, None, False, warnings=warnings)
    if department is None:
        department = Department(code=descriptor.code, created_at=now)
        session.add(department)
    department.name = content["name"]
    department.name_en = content.get("name_en")
    department.uscc = content.get("uscc")
    department.uscc_check_ok = check_ok
    department.division = content.get("division")
    department.homepage = content.get("homepage")
    department.digest = descriptor.digest
    department.updated_at = now
    session.flush()
    return PublishOutcome(descriptor.kind, descriptor.code, None, True, warnings=warnings)


def _publish_resource(
    session: Session, descriptor: Descriptor, by: str, now: datetime
) -> PublishOutcome:
    content = descriptor.content
    _require_department(session, content["provider"], "/provider")
    resource = session.get(Resource, descriptor.code, with_for_update=True)
    _check_namespace(session, resource, descriptor)
    warnings = _related_warnings(session, content)
    previous: ResourceVersion | None = None
    if resource is not None:
        previous = session.get(ResourceVersion, (resource.code, resource.latest_version))
        if previous is not None and previous.digest == descriptor.digest:
            return PublishOutcome(
                descriptor.kind, descriptor.code, resource.latest_version, False, warnings=warnings
            )
        if resource.deprecated_at is not None:
            raise ResourceDeprecated(f"resource {descriptor.code!r} is deprecated")
    conflicts = source_conflicts(session, content)
    if conflicts:
        raise DataSourceConflict(
            "a data item has one designated source department (一数一源)", errors=conflicts
        )
    if previous is not None:
        warnings += _change_warnings(session, content["namespace"], previous.descriptor, content)
    if resource is None:
        resource = Resource(
            code=descriptor.code, namespace=content["namespace"], latest_version=0, created_at=now
        )
        session.add(resource)
    resource.provider_code = content["provider"]
    resource.latest_version += 1
    resource.updated_at = now
    diff = resource_diff(previous.descriptor if previous else None, content)
    session.add(
        ResourceVersion(
            resource_code=resource.code,
            version=resource.latest_version,
            descriptor=dict(content),
            digest=descriptor.digest,
            diff=diff,
            published_at=now,
            published_by=by,
        )
    )
    session.flush()
    session.add_all(_field_rows(resource.code, resource.latest_version, content))
    search.update_index(session, resource.code, content)
    session.flush()
    return PublishOutcome(
        descriptor.kind, descriptor.code, resource.latest_version, True, diff, warnings
    )


def _change_warnings(
    session: Session, namespace: str, old: dict[str, Any], new: Any
) -> list[ProblemDetail]:
    """What a new version changes that consumers will feel: a field that a service item needs
    disappears, or a field is shared more openly than before."""
    warnings: list[ProblemDetail] = []
    kept = {f["name"]: (i, f) for i, f in enumerate(new["fields"])}
    needed = _needed_attributes(session, namespace)
    for field_ in old["fields"]:
        name = field_["name"]
        if name not in kept and name in needed:
            items = ", ".join(sorted(needed[name]))
            detail = f"field {name!r} is removed but service items still list it: {items}"
            warnings.append(ProblemDetail(pointer="/fields", detail=detail))
        elif name in kept:
            index, now = kept[name]
            before = SharingType(field_["sharing"]["type"])
            after = SharingType(now["sharing"]["type"])
            if after.openness > before.openness:
                detail = f"shared more openly than before ({before.value} to {after.value})"
                warnings.append(
                    ProblemDetail(pointer=f"/fields/{index}/sharing/type", detail=detail)
                )
    return warnings


def _needed_attributes(session: Session, namespace: str) -> dict[str, set[str]]:
    """Field name -> codes of service items whose latest version lists ``namespace.field``."""
    rows = session.execute(
        select(ServiceItemVersion.service_item_code, ServiceItemVersion.descriptor).join(
            ServiceItem,
            (ServiceItem.code == ServiceItemVersion.service_item_code)
            & (ServiceItem.latest_version == ServiceItemVersion.version),
        )
    )
    needed: dict[str, set[str]] = {}
    for code, descriptor in rows:
        for item in descriptor["attributes"]:
            prefix, _, name = item["attribute"].partition(".")
            if prefix == namespace:
                needed.setdefault(name, set()).add(code)
    return needed


def _field_rows(code: str, version: int, content: dict[str, Any] | Any) -> list[ResourceField]:
    return [
        ResourceField(
            resource_code=code,
            version=version,
            name=f["name"],
            title=f["title"],
            data_type=f["data_type"],
            sharing_type=f["sharing"]["type"],
            sensitivity=f["sensitivity"],
            transform=f["transform"],
        )
        for f in content["fields"]
    ]


def _check_namespace(session: Session, resource: Resource | None, descriptor: Descriptor) -> None:
    namespace = descriptor.content["namespace"]
    if resource is not None and resource.namespace != namespace:
        raise InvalidDescriptor(
            "the namespace of a resource cannot change between versions",
            errors=[ProblemDetail(pointer="/namespace", detail=f"was {resource.namespace!r}")],
        )
    holder = session.scalar(select(Resource.code).where(Resource.namespace == namespace))
    if holder is not None and holder != descriptor.code:
        raise NamespaceTaken(
            f"namespace {namespace!r} belongs to resource {holder!r}",
            errors=[ProblemDetail(pointer="/namespace", detail="already in use")],
        )


def _related_warnings(session: Session, content: Any) -> list[ProblemDetail]:
    related = list(content.get("related", []))
    if not related:
        return []
    known = set(session.scalars(select(Resource.code).where(Resource.code.in_(related))))
    return [
        ProblemDetail(pointer=f"/related/{i}", detail="no such resource (yet)")
        for i, code in enumerate(related)
        if code not in known
    ]


def _publish_service_item(
    session: Session, descriptor: Descriptor, by: str, now: datetime
) -> PublishOutcome:
    content = descriptor.content
    _require_department(session, content["owner"], "/owner")
    _check_attributes(session, content["attributes"])
    item = session.get(ServiceItem, descriptor.code, with_for_update=True)
    if item is not None:
        latest = session.get(ServiceItemVersion, (item.code, item.latest_version))
        if latest is not None and latest.digest == descriptor.digest:
            return PublishOutcome(descriptor.kind, descriptor.code, item.latest_version, False)
    if item is None:
        item = ServiceItem(code=descriptor.code, latest_version=0, created_at=now)
        session.add(item)
    item.owner_code = content["owner"]
    item.latest_version += 1
    item.updated_at = now
    session.add(
        ServiceItemVersion(
            service_item_code=item.code,
            version=item.latest_version,
            descriptor=dict(content),
            digest=descriptor.digest,
            published_at=now,
            published_by=by,
        )
    )
    session.flush()
    return PublishOutcome(descriptor.kind, descriptor.code, item.latest_version, True)


def _check_attributes(session: Session, attributes: list[dict[str, Any]]) -> None:
    """Each attribute must name a field of a live resource that can be shared at all."""
    namespaces = {a["attribute"].split(".", 1)[0] for a in attributes}
    rows = session.execute(
        select(
            Resource.namespace,
            ResourceField.name,
            ResourceField.sharing_type,
            Resource.deprecated_at.is_not(None),
        )
        .join(
            ResourceField,
            (ResourceField.resource_code == Resource.code)
            & (ResourceField.version == Resource.latest_version),
        )
        .where(Resource.namespace.in_(namespaces))
    )
    fields = {f"{ns}.{name}": (sharing, deprecated) for ns, name, sharing, deprecated in rows}
    problems: list[ProblemDetail] = []
    for i, item in enumerate(attributes):
        at = f"/attributes/{i}/attribute"
        sharing, deprecated = fields.get(item["attribute"], (None, False))
        if sharing is None:
            problems.append(ProblemDetail(pointer=at, detail="no such attribute in the catalogue"))
        elif deprecated:
            problems.append(ProblemDetail(pointer=at, detail="its resource is deprecated"))
        elif sharing == SharingType.NOT_SHARED:
            problems.append(ProblemDetail(pointer=at, detail="the field is not shared (不予共享)"))
    if problems:
        raise InvalidDescriptor("the service item names attributes it cannot use", errors=problems)


def _require_department(session: Session, code: str, at: str) -> None:
    if session.get(Department, code) is None:
        raise InvalidDescriptor(
            f"no department with code {code!r}; publish the department first",
            errors=[ProblemDetail(pointer=at, detail="unknown department")],
        )
