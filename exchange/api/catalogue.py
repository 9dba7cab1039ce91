"""HTTP routes of the catalogue: search, read, publish, deprecate, DCAT-AP export.

Reading the directory is open (it is metadata, and the DCAT export publishes it anyway);
publishing and deprecating need an ID token of a department admin of the owning department. On a
hub that reviews catalogue entries (``TONGBAN_CATALOGUE_REVIEW=required``, production's
default) a resource's ``PUT`` makes a draft submission for the data authority instead of a
version (:mod:`exchange.api.lifecycle`, docs/lifecycle.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from catalogue import reading
from catalogue.dcat import (
    JSONLD_MEDIA_TYPE,
    TURTLE_MEDIA_TYPE,
    DcatCatalogue,
    DcatDepartment,
    DcatResource,
    dcat_jsonld,
    dcat_turtle,
)
from catalogue.descriptors import Descriptor, parse_descriptor, resource_value_schema
from catalogue.errors import ConcurrentUpdate, InvalidDescriptor
from catalogue.models import Department, Resource, ResourceVersion, ServiceItem
from catalogue.publishing import PublishOutcome, deprecate_resource, publish
from catalogue.search import SearchQuery, search
from catalogue.vocabulary import DescriptorKind, Sensitivity, SharingType
from exchange.api.deps import BaseUrl, Hub, HubState, StaffBearer
from exchange.api.lifecycle import actor_of, draft_view
from exchange.api.problems import problem_responses
from exchange.api.text import DisplayParagraph
from exchange.db import unit_of_work
from exchange.errors import Forbidden, UnsupportedMediaType
from exchange.federation.reading import origin_of
from exchange.security.identity import Principal, Role
from schemas import ProblemDetail

router = APIRouter(prefix="/catalogue", tags=["catalogue"])

DEPT = r"^[A-Z][A-Z0-9]{1,15}$"
_DESCRIPTOR_BODY = {
    "requestBody": {
        "required": True,
        "description": "A descriptor (see /schemas/{kind}.schema.json), as JSON or YAML.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}
_JSON_SCHEMA: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/schema+json": {"schema": {"type": "object"}}}}
}
_OUTCOME = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["kind", "code", "version", "created", "diff", "warnings"],
            "properties": {
                "kind": {"type": "string"},
                "code": {"type": "string"},
                "version": {"type": ["integer", "null"]},
                "created": {"type": "boolean"},
                "diff": {"type": ["object", "null"]},
                "warnings": {"type": "array", "items": {"type": "object"}},
            },
        }
    }
}
_PUBLISHED: dict[int | str, dict[str, Any]] = {
    200: {"description": "identical to the latest version; nothing published", "content": _OUTCOME},
    201: {"description": "a new version was published", "content": _OUTCOME},
}
_PUT_RESOURCE: dict[int | str, dict[str, Any]] = {
    **_PUBLISHED,
    202: {
        "description": "under review (TONGBAN_CATALOGUE_REVIEW=required): a draft submission "
        "was made; attach its assessments, have it signed off and submit it",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}
_READ_ERRORS = problem_responses(404, 422)
_PUBLISH_ERRORS = problem_responses(401, 403, 409, 413, 415, 422)


@router.get("/resources", summary="Search the directory", responses=problem_responses(422))
def search_resources(
    hub: Hub,
    q: Annotated[str, Query(max_length=200, description="Text in names, summaries, fields")] = "",
    provider: Annotated[str | None, Query(pattern=DEPT)] = None,
    sharing: SharingType | None = None,
    sensitivity: Sensitivity | None = None,
    include_deprecated: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    query = SearchQuery(q, provider, sharing, sensitivity, include_deprecated, limit, offset)
    with unit_of_work(hub.sessions) as session:
        hits, total = search(session, query)
        summaries = _summaries(session, [h.code for h in hits])
    results = [{**summaries[h.code], "rank": round(h.rank, 6)} for h in hits]
    return {"total": total, "limit": limit, "offset": offset, "results": results}


def _summaries(session: Session, codes: list[str]) -> dict[str, dict[str, Any]]:
    if not codes:
        return {}
    rows = session.execute(reading.latest_versions().where(Resource.code.in_(codes)))
    out: dict[str, dict[str, Any]] = {}
    for resource, version in rows:
        view = reading.resource_view(resource, version)
        d = view["descriptor"]
        out[resource.code] = {
            "code": resource.code,
            "namespace": resource.namespace,
            "name": d["name"],
            "name_en": d.get("name_en"),
            "summary": d["summary"],
            "provider": resource.provider_code,
            "version": version.version,
            "published_at": view["published_at"],
            "sharing_type": view["sharing_type"],
            **_sharing_of(d["fields"]),
            "deprecated": view["deprecated"],
            "fields": [
                {
                    "name": f["name"],
                    "title": f["title"],
                    "sharing": f["sharing"]["type"],
                    "sensitivity": f["sensitivity"],
                }
                for f in d["fields"]
            ],
        }
    return out


def _sharing_of(fields: list[dict[str, Any]]) -> dict[str, Any]:
    """What is true of a resource's fields as a whole (``sharing_type`` is only its most open
    field's type): ``unconditional`` when every field is shared unconditionally (无条件共享),
    ``partly_unconditional`` when some are (部分无条件共享), ``conditional`` when none is but
    some are shared on conditions (有条件共享), ``not_shared`` when none is shared (不予共享);
    and how many fields are of each type."""
    counts = {t.value: 0 for t in SharingType}
    for f in fields:
        counts[str(f["sharing"]["type"])] += 1
    unconditional = counts[SharingType.UNCONDITIONAL.value]
    if unconditional == len(fields):
        summary = "unconditional"
    elif unconditional:
        summary = "partly_unconditional"
    elif counts[SharingType.CONDITIONAL.value]:
        summary = "conditional"
    else:
        summary = "not_shared"
    return {"sharing_summary": summary, "sharing_counts": counts}


@router.get(
    "/resources/{code}",
    summary="A resource: latest published version, with fields",
    responses=_READ_ERRORS,
)
def get_resource(
    hub: Hub, code: str, version: Annotated[int | None, Query(ge=1)] = None
) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        resource, row = reading.resource_version(session, code, version)
        view = reading.resource_view(resource, row)
        origin = origin_of(session, code)  # held by another hub (federation)
    return {
        **view,
        **_sharing_of(view["descriptor"]["fields"]),
        **({"origin": origin} if origin else {}),
    }


@router.get(
    "/resources/{code}/versions",
    summary="Version history with field-level diffs",
    responses=_READ_ERRORS,
)
def get_resource_versions(hub: Hub, code: str) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        return {"code": code, "versions": reading.resource_history(session, code)}


@router.get(
    "/resources/{code}/descriptor",
    summary="The latest published descriptor whole, with its source (provider admin)",
    responses=problem_responses(401, 403, 404, 422),
)
def get_resource_descriptor(hub: Hub, staff: StaffBearer, code: str) -> dict[str, Any]:
    """What the provider's admin edits to publish the next version: the public view leaves the
    source binding out, and a descriptor without it cannot be published."""
    with unit_of_work(hub.sessions) as session:
        resource, row = reading.resource_version(session, code)
        _require_admin_of(staff, resource.provider_code)
        return dict(row.descriptor)


@router.get(
    "/resources/{code}/schema",
    summary="JSON Schema of one subject's record",
    responses={**_JSON_SCHEMA, **_READ_ERRORS},
)
def get_resource_schema(hub: Hub, base_url: BaseUrl, code: str) -> JSONResponse:
    with unit_of_work(hub.sessions) as session:
        _, row = reading.resource_version(session, code)
        schema = resource_value_schema(
            row.descriptor, f"{base_url}/catalogue/resources/{code}/schema"
        )
    return JSONResponse(schema, media_type="application/schema+json")


@router.put(
    "/resources/{code}",
    summary="Publish a new version, or submit it for review (provider department admin)",
    openapi_extra=_DESCRIPTOR_BODY,
    responses={**_PUT_RESOURCE, **_PUBLISH_ERRORS},
)
async def put_resource(request: Request, hub: Hub, staff: StaffBearer, code: str) -> JSONResponse:
    """With ``TONGBAN_CATALOGUE_REVIEW=required`` (a production hub's default) the descriptor
    becomes a draft submission for the data authority's review (202, docs/lifecycle.md);
    ``direct`` publishes it at once."""
    descriptor = await _descriptor_from(request, DescriptorKind.RESOURCE, code)
    if hub.settings.catalogue_review == "required":
        view = await run_in_threadpool(draft_view, hub, actor_of(staff), descriptor)
        location = f"/catalogue/submissions/{view['id']}"
        return JSONResponse(view, status_code=202, headers={"Location": location})
    outcome = await _run(hub, lambda s: _publish_resource_as(s, staff, descriptor))
    return JSONResponse(outcome.as_dict(), status_code=201 if outcome.created else 200)


def _publish_resource_as(
    session: Session, staff: Principal, descriptor: Descriptor
) -> PublishOutcome:
    existing = session.get(Resource, descriptor.code)
    _require_admin_of(staff, descriptor.content["provider"])
    if existing is not None:
        _require_admin_of(staff, existing.provider_code)
    return publish(session, descriptor, by=staff.subject, now=datetime.now(UTC))


@router.post(
    "/resources/{code}/deprecate",
    summary="Deprecate a resource (provider admin)",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
def post_deprecate(
    hub: Hub,
    staff: StaffBearer,
    code: str,
    reason: Annotated[DisplayParagraph, Body(embed=True, min_length=1, max_length=1000)],
) -> dict[str, Any]:
    with unit_of_work(hub.sessions, write=True) as session:
        resource, _ = reading.resource_version(session, code)
        _require_admin_of(staff, resource.provider_code)
        deprecate_resource(session, code, reason=reason, now=datetime.now(UTC))
        resource, row = reading.resource_version(session, code)
        return reading.resource_view(resource, row)


@router.get(
    "/service-items/{code}",
    summary="A service item and the attributes it needs",
    responses=_READ_ERRORS,
)
def get_service_item(hub: Hub, code: str) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        return reading.service_item_view(session, code)


@router.put(
    "/service-items/{code}",
    summary="Publish a service item (owner department admin)",
    openapi_extra=_DESCRIPTOR_BODY,
    responses={**_PUBLISHED, **_PUBLISH_ERRORS},
)
async def put_service_item(
    request: Request, hub: Hub, staff: StaffBearer, code: str
) -> JSONResponse:
    descriptor = await _descriptor_from(request, DescriptorKind.SERVICE_ITEM, code)

    def work(session: Session) -> PublishOutcome:
        existing = session.get(ServiceItem, code)
        _require_admin_of(staff, descriptor.content["owner"])
        if existing is not None:
            _require_admin_of(staff, existing.owner_code)
        return publish(session, descriptor, by=staff.subject, now=datetime.now(UTC))

    outcome = await _run(hub, work)
    return JSONResponse(outcome.as_dict(), status_code=201 if outcome.created else 200)


@router.get("/departments", summary="Departments")
def get_departments(hub: Hub) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        return {"departments": reading.list_departments(session)}


@router.get("/departments/{code}", summary="One department", responses=_READ_ERRORS)
def get_department(hub: Hub, code: str) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        return reading.department_view(reading.get_department(session, code))


@router.get(
    "/dcat",
    summary="DCAT-AP 3 export (JSON-LD; Turtle with Accept: text/turtle)",
    responses={200: {"content": {JSONLD_MEDIA_TYPE: {}, TURTLE_MEDIA_TYPE: {}}}},
)
def get_dcat(request: Request, hub: Hub, base_url: BaseUrl) -> Response:
    with unit_of_work(hub.sessions) as session:
        catalogue = _dcat_catalogue(session, hub, base_url)
    if _wants_turtle(request.headers.get("accept", "")):
        return Response(dcat_turtle(catalogue), media_type=f"{TURTLE_MEDIA_TYPE}; charset=utf-8")
    return JSONResponse(dcat_jsonld(catalogue), media_type=JSONLD_MEDIA_TYPE)


def _wants_turtle(accept: str) -> bool:
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return TURTLE_MEDIA_TYPE in kinds and (
        JSONLD_MEDIA_TYPE not in kinds
        or kinds.index(TURTLE_MEDIA_TYPE) < kinds.index(JSONLD_MEDIA_TYPE)
    )


def _dcat_catalogue(session: Session, hub: HubState, base_url: str) -> DcatCatalogue:
    departments = {
        d.code: DcatDepartment(d.code, d.name, d.homepage)
        for d in session.scalars(select(Department))
    }
    first_published = {
        code: published
        for code, published in session.execute(
            select(ResourceVersion.resource_code, ResourceVersion.published_at).where(
                ResourceVersion.version == 1
            )
        )
    }
    rows = session.execute(reading.latest_versions().order_by(Resource.code))
    resources = [
        DcatResource(
            descriptor=row.descriptor,
            version=row.version,
            first_published=first_published.get(resource.code, row.published_at),
            last_published=row.published_at,
            deprecated=resource.deprecated_at is not None,
        )
        for resource, row in rows
    ]
    modified = max((r.last_published for r in resources), default=datetime.now(UTC))
    settings = hub.settings
    return DcatCatalogue(
        base_url=base_url,
        title=settings.hub_name + " 政务信息资源目录",
        description="经各部门发布的政务信息资源目录 (the participating departments' directory)",
        publisher=DcatDepartment("HUB", settings.operator_name, iri=f"{base_url}/#operator"),
        departments=departments,
        resources=resources,
        modified=modified,
    )


def _require_admin_of(staff: Principal, department: str) -> None:
    if staff.role is not Role.DEPARTMENT_ADMIN or staff.department != department:
        raise Forbidden(f"only an administrator of department {department} may do this")


async def _descriptor_from(request: Request, kind: DescriptorKind, code: str) -> Descriptor:
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if not any(t in media_type for t in ("json", "yaml")):
        raise UnsupportedMediaType("send the descriptor as application/json or application/yaml")
    descriptor = parse_descriptor(await request.body(), media_type=media_type, expected=kind)
    if descriptor.code != code:
        raise InvalidDescriptor(
            "the descriptor's code does not match the URL",
            errors=[ProblemDetail(pointer="/code", detail=f"must be {code!r}")],
        )
    return descriptor


async def _run(hub: HubState, work: Callable[[Session], PublishOutcome]) -> PublishOutcome:
    """Run a publish in a worker thread, in its own unit of work."""

    def in_unit() -> PublishOutcome:
        try:
            with unit_of_work(hub.sessions, write=True) as session:
                return work(session)
        except IntegrityError:
            raise ConcurrentUpdate(
                "another publish of the same entry committed first; fetch it and retry"
            ) from None

    return await run_in_threadpool(in_unit)
