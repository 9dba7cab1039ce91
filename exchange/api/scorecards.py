"""HTTP routes of the data authority (主管部门; docs/scorecards.md).

``GET /authority/scorecards?month=YYYY-MM`` is the month's scorecards per provider and consumer
department and city-wide, with the city-wide trend of the months before;
``GET /authority/scorecards.csv`` the same as a CSV report to file;
``GET /authority/feedback?department=&month=`` the month's ratings that concern one department,
with their comments and without the person. Only a data authority's ID token is taken.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from exchange import clock
from exchange.api.deps import Hub, HubState, StaffBearer
from exchange.api.problems import problem_responses
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.feedback.reading import ratings_about
from exchange.feedback.sealing import CommentSeal
from exchange.scorecards.compute import month_range, recent_months
from exchange.scorecards.report import csv_of
from exchange.scorecards.stored import month_cards, month_trend
from exchange.security.identity import Principal, Role

__all__ = ["TREND_MONTHS", "authority_only", "router"]

router = APIRouter(prefix="/authority", tags=["data authority"])

TREND_MONTHS = 6
"""Months in the trend (the month asked and the five before it)."""
_ERRORS = problem_responses(401, 403, 422)

Month = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{4}-[0-9]{2}$",
        description="A China calendar month, YYYY-MM (default: the current one)",
    ),
]


def authority_only(staff: Principal) -> None:
    """Refuse anyone but the data authority (主管部门)."""
    if staff.role is not Role.DATA_AUTHORITY:
        raise Forbidden("only the data authority (主管部门) may read the scorecards")


def _cards(hub: HubState, month: str | None) -> dict[str, Any]:
    now = clock.now()
    asked = month_range(month, now)
    months = [month_range(m, now) for m in recent_months(asked.month, TREND_MONTHS)]
    cards = month_cards(hub.sessions, asked, now)  # a closed month: stored once computed
    return {**cards, "trend": month_trend(hub.sessions, months)}


@router.get(
    "/scorecards",
    summary="The month's scorecards per department and city-wide, with the trend (共享评价)",
    responses=_ERRORS,
)
async def get_scorecards(hub: Hub, staff: StaffBearer, month: Month = None) -> dict[str, Any]:
    authority_only(staff)
    return await run_in_threadpool(_cards, hub, month)


def _csv(hub: HubState, month: str | None) -> tuple[str, str]:
    now = clock.now()
    asked = month_range(month, now)
    return asked.month, csv_of(month_cards(hub.sessions, asked, now))


@router.get(
    "/scorecards.csv",
    summary="The month's scorecards as a CSV report to file (月度共享评价报表)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **_ERRORS},
)
async def get_scorecards_csv(hub: Hub, staff: StaffBearer, month: Month = None) -> Response:
    authority_only(staff)
    name, text = await run_in_threadpool(_csv, hub, month)
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="tongban-scorecards-{name}.csv"'},
    )


@router.get(
    "/feedback",
    summary="The month's ratings that concern one department, with comments, without the person",
    responses=_ERRORS,
)
def get_feedback(
    hub: Hub,
    staff: StaffBearer,
    department: Annotated[str, Query(pattern=r"^[A-Z][A-Z0-9]{1,15}$")],
    month: Month = None,
) -> dict[str, Any]:
    authority_only(staff)
    asked = month_range(month, clock.now())
    with unit_of_work(hub.sessions) as session:
        return {
            "department": department,
            "month": asked.month,
            "ratings": ratings_about(session, department, asked.month, CommentSeal(hub.secrets)),
        }
