"""Liveness, readiness and the published JSON Schemas."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from catalogue.errors import NotFound
from exchange.api.deps import BaseUrl, Hub
from exchange.problems import problem_responses
from schemas import SCHEMA_NAMES, TongbanError, load_schema

router = APIRouter(tags=["operations"])


class NotReady(TongbanError):
    code = "not_ready"
    status = 503
    title = "Not ready"


@router.get("/", summary="What this hub is, and where to start")
def root(hub: Hub, base_url: BaseUrl) -> dict[str, Any]:
    return {
        "name": hub.settings.hub_name,
        "operator": {"@id": f"{base_url}/#operator", "name": hub.settings.operator_name},
        "mode": hub.settings.mode,
        "links": {
            "catalogue": f"{base_url}/catalogue/resources",
            "dcat": f"{base_url}/catalogue/dcat",
            "openapi": f"{base_url}/openapi.json",
            "docs": f"{base_url}/docs",
        },
    }


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the hub database, and each department's source",
    responses=problem_responses(503),
)
def readyz(hub: Hub) -> dict[str, Any]:
    """503 when the hub database is unreachable or not migrated. A department's source being
    down does not make the hub unready (its attributes answer ``unavailable``); the status is
    then ``degraded`` and the source's check says why."""
    try:
        with hub.engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        raise NotReady("the hub database is not reachable or not migrated") from None
    sources = {
        resource: {
            "status": "ok" if report.ok else "failing",
            "latency_ms": report.latency_ms,
            **({} if report.ok else {"reason": report.detail}),
        }
        for resource, report in sorted(hub.sources.health().items())
    }
    degraded = any(check["status"] != "ok" for check in sources.values())
    return {
        "status": "degraded" if degraded else "ready",
        "checks": {"database": {"status": "ok", "revision": revision}, "sources": sources},
    }


@router.get(
    "/schemas/{name}.schema.json",
    summary="A JSON Schema of a document the hub accepts",
    responses={
        200: {"content": {"application/schema+json": {"schema": {"type": "object"}}}},
        **problem_responses(404, 422),
    },
)
def get_schema(name: str) -> JSONResponse:
    if name not in SCHEMA_NAMES:
        raise NotFound(f"no schema named {name!r}")
    return JSONResponse(load_schema(name), media_type="application/schema+json")
