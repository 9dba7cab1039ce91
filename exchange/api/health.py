"""Liveness, readiness and the published JSON Schemas."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from catalogue.errors import NotFound
from catalogue.models import Resource
from exchange.api.deps import BaseUrl, Hub, HubState, OptionalStaff
from exchange.api.problems import problem_responses
from exchange.db import unit_of_work
from exchange.security.identity import Principal, Role
from exchange.settings import SettingsError
from schemas import SCHEMA_NAMES, TongbanError, load_schema

router = APIRouter(tags=["operations"])


class NotReady(TongbanError):
    """The hub cannot serve: its database is not reachable or not migrated, its master secret
    is not the database's, or no published resource is bound to a source."""

    code = "not_ready"
    status = 503
    title = "Not ready"


@dataclass(frozen=True)
class SourceBindings:
    """How many of the catalogue's published (not deprecated) resources are bound to a source
    in the adapters file; an unbound resource answers every query ``not_bound``."""

    published: int
    bound: int

    @property
    def status(self) -> str:
        """``empty`` (nothing published), ``none`` bound, ``partial`` or ``ok``."""
        if self.published == 0:
            return "empty"
        if self.bound == 0:
            return "none"
        return "partial" if self.bound < self.published else "ok"

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "published": self.published, "bound": self.bound}


def source_bindings(hub: HubState) -> SourceBindings:
    """The catalogue's published resources against the hub's source bindings."""
    with unit_of_work(hub.sessions) as session:
        published = set(
            session.scalars(select(Resource.code).where(Resource.deprecated_at.is_(None)))
        )
    return SourceBindings(len(published), len(published & set(hub.sources.bound())))


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
        **_console_sign_in(hub),
    }


def _console_sign_in(hub: HubState) -> dict[str, Any]:
    """Where the console sends people to sign in (docs/console.md), when configured."""
    settings = hub.settings
    if not (settings.idp_authorization_endpoint and settings.idp_client_id):
        return {}
    return {
        "idp": {
            "authorization_endpoint": settings.idp_authorization_endpoint,
            "client_id": settings.idp_client_id,
        }
    }


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the hub database, and each department's source",
    responses=problem_responses(503),
)
def readyz(hub: Hub, staff: OptionalStaff) -> dict[str, Any]:
    """503 when the hub database is unreachable or not migrated, when the master secret is not
    the one the database was built with (``security/secret_check.py``: everything stored under
    it would fail to open), or when resources are published and none is bound to a source.

    That last one is a hub that cannot answer a single query (every attribute ``not_bound``:
    the adapters file is missing or not the one meant), so a load balancer should send it no
    traffic; the 503 carries ``checks`` so the operator sees why. A hub with nothing published
    is ready (``checks.source_bindings.status`` is ``empty``), and one with some resources
    unbound is ``degraded``. A department's source being down does not make the hub unready
    (its attributes answer ``unavailable``); the status is then ``degraded``. So is a witness
    of the hub's policy that refused or did not answer the last submission: queries go on
    (their receipts are signed by the hub), and ``checks.witnesses`` shows how many entries no
    witnessed checkpoint covers yet.

    The sources are probed at most once per ``HEALTH_MAX_AGE_S`` however often this is asked.
    Anyone sees the status and how many sources are ok or failing; an operator also sees each
    source's check (latency, reason) and the schema revision, a department admin the checks of
    their own department's sources."""
    try:
        with hub.engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        raise NotReady("the hub database is not reachable or not migrated") from None
    try:
        hub.check_secret(record=False)
    except SettingsError as exc:
        raise NotReady(exc.detail) from None
    bindings = source_bindings(hub)
    reports = hub.sources.recent_health()
    failing = sum(1 for report in reports.values() if not report.ok)
    with unit_of_work(hub.sessions) as session:
        gap = hub.witnessing.gap(session)
    degraded = failing or gap.failing or bindings.status == "partial"
    answer: dict[str, Any] = {
        "status": "degraded" if degraded else "ready",
        "checks": {
            "database": {"status": "ok"},
            "source_bindings": bindings.as_json(),
            "source_counts": {"ok": len(reports) - failing, "failing": failing},
            "witnesses": {
                "status": "failing" if gap.failing else "ok",
                "policy": gap.policy,
                "log_size": gap.log_size,
                "witnessed_size": gap.witnessed_size,
                "unwitnessed_entries": gap.unwitnessed_entries,
                "failing": gap.failing,
            },
        },
    }
    shown = _sources_shown_to(hub, staff, reports)
    if shown is not None:
        if staff is not None and staff.role is Role.OPERATOR:
            answer["checks"]["database"]["revision"] = revision
        answer["checks"]["sources"] = {
            resource: {
                "status": "ok" if report.ok else "failing",
                "latency_ms": report.latency_ms,
                **({} if report.ok else {"reason": report.detail}),
            }
            for resource, report in sorted(reports.items())
            if resource in shown
        }
    if bindings.status == "none":
        raise NotReady(
            f"no published resource is bound to a source: all {bindings.published} would answer "
            "every query not_bound (is the adapters file, TONGBAN_ADAPTERS_FILE, the one meant?)",
            extensions={"checks": answer["checks"]},
        )
    return answer


def _sources_shown_to(
    hub: HubState, staff: Principal | None, reports: Mapping[str, object]
) -> set[str] | None:
    """The resources whose source checks ``staff`` may see; ``None`` for none at all."""
    if staff is None:
        return None
    if staff.role is Role.OPERATOR:
        return set(reports)
    if staff.role is Role.DEPARTMENT_ADMIN and staff.department:
        with unit_of_work(hub.sessions) as session:
            own = session.scalars(
                select(Resource.code).where(Resource.provider_code == staff.department)
            )
            return set(own) & set(reports)
    return None


@router.get(
    "/schemas/{name}.schema.json",
    summary="A JSON Schema of a document the hub accepts or produces",
    responses={
        200: {"content": {"application/schema+json": {"schema": {"type": "object"}}}},
        **problem_responses(404, 422),
    },
)
def get_schema(name: str) -> JSONResponse:
    if name not in SCHEMA_NAMES:
        raise NotFound(f"no schema named {name!r}")
    return JSONResponse(load_schema(name), media_type="application/schema+json")
