"""HTTP routes of the data authority's compliance view (docs/lifecycle.md, "The compliance
view"; 《政务数据共享条例》 art. 38-41).

``GET /authority/compliance`` is the page: every running clock, the breaches open now, each
department's figures and the twelve months' trend; ``GET /authority/compliance/clocks`` and
``GET /authority/compliance/breaches`` the lists, filtered; ``GET
/authority/compliance/report?month=YYYY-MM[&format=csv]`` the month's report to file, as JSON
or as CSV (UTF-8 with BOM). Only a data authority's ID token is taken; everyone else gets 403
problem+json (deny by default). Read only: nothing here changes any state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from exchange import clock
from exchange.api.deps import Hub, HubState, StaffBearer
from exchange.api.problems import problem_responses
from exchange.compliance import service
from exchange.compliance.report import csv_of
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.security.identity import Principal, Role

__all__ = ["router"]

router = APIRouter(prefix="/authority/compliance", tags=["data authority"])

_ERRORS = problem_responses(401, 403, 404, 422)

Month = Annotated[
    str | None,
    Query(max_length=16, description="A China calendar month, YYYY-MM, not after this one"),
]
Department = Annotated[
    str | None,
    Query(max_length=16, description="A department code of the registry (default: all)"),
]
Kind = Annotated[
    str | None,
    Query(max_length=40, description="A kind of breach, e.g. late_reply (default: all)"),
]


def _authority_only(staff: Principal) -> None:
    if staff.role is not Role.DATA_AUTHORITY:
        raise Forbidden("only the data authority (主管部门) may read the compliance view")


def _read(hub: HubState, work: Any) -> Any:
    now: datetime = clock.now()
    with unit_of_work(hub.sessions) as session:
        return work(session, now)


@router.get(
    "",
    summary="Running clocks, open breaches, per department, and the 12 months' trend",
    responses=_ERRORS,
)
async def get_overview(
    hub: Hub, staff: StaffBearer, department: Department = None
) -> dict[str, Any]:
    _authority_only(staff)
    result: dict[str, Any] = await run_in_threadpool(
        _read, hub, lambda s, now: service.overview(s, now, department=department)
    )
    return result


@router.get(
    "/clocks",
    summary="Every running clock of the lifecycle, earliest last day first",
    responses=_ERRORS,
)
async def get_clocks(
    hub: Hub, staff: StaffBearer, department: Department = None, overdue: bool = False
) -> dict[str, Any]:
    _authority_only(staff)
    clocks = await run_in_threadpool(
        _read,
        hub,
        lambda s, now: service.clocks_view(s, now, department=department, overdue=overdue),
    )
    return {"department": department, "count": len(clocks), "clocks": clocks}


@router.get(
    "/breaches",
    summary="Breaches mapped to their article, most recent first, each with its case",
    responses=_ERRORS,
)
async def get_breaches(
    hub: Hub,
    staff: StaffBearer,
    month: Month = None,
    department: Department = None,
    kind: Kind = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
) -> dict[str, Any]:
    _authority_only(staff)
    wanted = service.parse_kind(kind)
    result: dict[str, Any] = await run_in_threadpool(
        _read,
        hub,
        lambda s, now: service.breach_view(
            s, now, month=month, department=department, kind=wanted, open_only=open_only
        ),
    )
    return result


@router.get(
    "/report",
    summary="The month's compliance report to file, per department and article (JSON or CSV)",
    response_model=None,
    responses={200: {"content": {"text/csv": {}}}, **_ERRORS},
)
async def get_report(
    hub: Hub,
    staff: StaffBearer,
    month: Month = None,
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | Response:
    _authority_only(staff)
    report: dict[str, Any] = await run_in_threadpool(
        _read, hub, lambda s, now: service.monthly_report(s, month, now)
    )
    if format == "json":
        return report
    name = report["month"]
    return Response(
        csv_of(report).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="tongban-compliance-{name}.csv"'},
    )
