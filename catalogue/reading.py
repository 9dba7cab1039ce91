"""Reading the registry: resources with their versions, service items, departments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from catalogue.errors import DepartmentNotFound, ResourceNotFound, ServiceItemNotFound
from catalogue.models import Department, Resource, ResourceVersion, ServiceItem, ServiceItemVersion

__all__ = [
    "department_view",
    "latest_versions",
    "list_departments",
    "resource_history",
    "resource_version",
    "resource_view",
    "service_item_view",
]


def latest_versions() -> Select[Resource, ResourceVersion]:
    """Each resource with its latest version; add ``where``/``order_by`` as needed."""
    return select(Resource, ResourceVersion).join(
        ResourceVersion,
        (ResourceVersion.resource_code == Resource.code)
        & (ResourceVersion.version == Resource.latest_version),
    )


def resource_version(
    session: Session, code: str, version: int | None = None
) -> tuple[Resource, ResourceVersion]:
    """The resource and one of its versions (the latest when ``version`` is None)."""
    resource = session.get(Resource, code)
    if resource is None:
        raise ResourceNotFound(f"no resource with code {code!r}")
    wanted = resource.latest_version if version is None else version
    row = session.get(ResourceVersion, (code, wanted))
    if row is None:
        raise ResourceNotFound(f"resource {code!r} has no version {wanted}")
    return resource, row


def resource_view(resource: Resource, row: ResourceVersion) -> dict[str, Any]:
    """The public representation of a resource version (the source binding stays inside)."""
    descriptor = {k: v for k, v in row.descriptor.items() if k != "source"}
    return {
        "code": resource.code,
        "version": row.version,
        "latest_version": resource.latest_version,
        "published_at": row.published_at.isoformat(),
        "published_by": row.published_by,
        "deprecated": resource.deprecated_at is not None,
        "deprecated_at": resource.deprecated_at.isoformat() if resource.deprecated_at else None,
        "deprecation_reason": resource.deprecation_reason,
        "sharing_type": _most_open(row.descriptor),
        "descriptor": descriptor,
        "diff": row.diff,
    }


def _most_open(content: dict[str, Any]) -> str:
    order = ["unconditional", "conditional", "not_shared"]
    return min((str(f["sharing"]["type"]) for f in content["fields"]), key=order.index)


def resource_history(session: Session, code: str) -> list[dict[str, Any]]:
    """Every version of a resource, oldest first, with the diff each one made."""
    if session.get(Resource, code) is None:
        raise ResourceNotFound(f"no resource with code {code!r}")
    rows = session.scalars(
        select(ResourceVersion)
        .where(ResourceVersion.resource_code == code)
        .order_by(ResourceVersion.version)
    )
    return [
        {
            "version": r.version,
            "published_at": r.published_at.isoformat(),
            "published_by": r.published_by,
            "digest": r.digest,
            "diff": r.diff,
        }
        for r in rows
    ]


def service_item_view(session: Session, code: str) -> dict[str, Any]:
    item = session.get(ServiceItem, code)
    if item is None:
        raise ServiceItemNotFound(f"no service item with code {code!r}")
    row = session.get(ServiceItemVersion, (code, item.latest_version))
    if row is None:
        raise ServiceItemNotFound(f"service item {code!r} has no published version")
    return {
        "code": item.code,
        "version": row.version,
        "published_at": row.published_at.isoformat(),
        "owner": item.owner_code,
        "name": row.descriptor["name"],
        "name_en": row.descriptor.get("name_en"),
        "summary": row.descriptor.get("summary"),
        "attributes": row.descriptor["attributes"],
    }


def list_departments(session: Session) -> list[dict[str, Any]]:
    return [
        department_view(d) for d in session.scalars(select(Department).order_by(Department.code))
    ]


def department_view(department: Department) -> dict[str, Any]:
    return {
        "code": department.code,
        "name": department.name,
        "name_en": department.name_en,
        "uscc": department.uscc,
        "uscc_check_ok": department.uscc_check_ok,
        "division": department.division,
        "homepage": department.homepage,
    }


def get_department(session: Session, code: str) -> Department:
    department = session.get(Department, code)
    if department is None:
        raise DepartmentNotFound(f"no department with code {code!r}")
    return department
