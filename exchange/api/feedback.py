"""HTTP routes of feedback (好差评; docs/scorecards.md).

Citizens: ``GET /citizen/feedback`` lists the handlings of service items the audit log shows for
them (each with its rating once rated); ``POST /citizen/feedback`` rates one. Department admins
(as consumers): ``GET /department/feedback`` lists the resources their systems received and the
ratings they made; ``POST /department/feedback`` rates a provider's data quality for one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from exchange import clock
from exchange.api.consent import Citizen
from exchange.api.deps import Hub, StaffBearer
from exchange.api.problems import problem_responses
from exchange.api.text import DisplayParagraph
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.feedback import reading
from exchange.feedback.sealing import CommentSeal
from exchange.feedback.service import (
    CitizenRating,
    DepartmentRating,
    rate_handling,
    rate_resource,
    received_resources,
)
from exchange.security.identity import Principal, Role

__all__ = ["COMMENT_MAX", "router"]

router = APIRouter(tags=["feedback"])

COMMENT_MAX = 300
"""The longest comment, in characters."""
_FIELD = r"^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,62}$"
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_WRITE_ERRORS = problem_responses(400, 401, 403, 409, 413, 415, 422, 503)
_READ_ERRORS = problem_responses(401, 403, 422)

Score = Annotated[int, Field(ge=1, le=5, description="1 非常不满意 … 5 非常满意")]
Fields = Annotated[
    list[Annotated[str, Field(pattern=_FIELD)]], Field(max_length=20, default_factory=list)
]
Comment = Annotated[
    DisplayParagraph | None,
    Field(
        default=None,
        max_length=COMMENT_MAX,
        description="A short comment; personal data: only the rater and the data authority see it",
    ),
]


class CitizenRatingBody(BaseModel):
    """A citizen's rating of the data side of one handling of a service item."""

    model_config = ConfigDict(extra="forbid")

    service_item: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    handling: str | None = Field(
        default=None,
        pattern=_UUID,
        description="The request id of the handling rated; default the newest not rated yet",
    )
    score: Score
    asked_again: Fields = Field(
        description="Items the office still asked for on paper although the hub could supply them"
    )
    wrong: Fields = Field(description="Items released in that handling that were wrong")
    comment: Comment


class DepartmentRatingBody(BaseModel):
    """A consumer department's rating of a provider's data quality for one resource."""

    model_config = ConfigDict(extra="forbid")

    resource: str = Field(pattern=r"^[A-Z][A-Z0-9-]{1,63}$")
    score: Score
    wrong: Fields = Field(description="Fields of the resource found wrong")
    comment: Comment


# -- citizens ----------------------------------------------------------------------------------


@router.get(
    "/citizen/feedback",
    summary="The service items handled for me, each with my rating once rated (citizen)",
    tags=["citizen"],
    responses=_READ_ERRORS,
)
def my_handlings(hub: Hub, citizen: Citizen) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        view = reading.citizen_view(session, citizen, CommentSeal(hub.secrets))
    return {**view, "objections": hub.settings.citizen_objections}


@router.post(
    "/citizen/feedback",
    summary="Rate the data side of a service item handled for me (好差评, citizen)",
    tags=["citizen"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def rate_my_handling(hub: Hub, citizen: Citizen, body: CitizenRatingBody) -> JSONResponse:
    ask = CitizenRating(
        body.service_item,
        body.handling,
        body.score,
        tuple(body.asked_again),
        tuple(body.wrong),
        body.comment or None,
    )
    seal = CommentSeal(hub.secrets)  # the comment is stored only sealed
    row = rate_handling(hub.sessions, citizen, ask, clock.now(), seal)
    view = reading.rating_view(row, seal)
    if row.wrong and hub.settings.citizen_objections:
        # where to have a wrong item corrected: an objection (异议, docs/corrections.md)
        view["objection"] = {"method": "POST", "path": "/citizen/corrections"}
    return JSONResponse(view, status_code=201)


# -- consumer departments ----------------------------------------------------------------------


def _admin(staff: Principal) -> str:
    if staff.role is not Role.DEPARTMENT_ADMIN or not staff.department:
        raise Forbidden("only a department admin rates for their department")
    return staff.department


@router.get(
    "/department/feedback",
    summary="The resources my department's systems received, and its ratings of them",
    responses=_READ_ERRORS,
)
def department_feedback(hub: Hub, staff: StaffBearer) -> dict[str, Any]:
    department = _admin(staff)
    now = clock.now()
    with unit_of_work(hub.sessions) as session:
        received = received_resources(session, department, now)
        return {
            "received": reading.received_view(session, received),
            "ratings": reading.department_ratings(session, department, CommentSeal(hub.secrets)),
        }


@router.post(
    "/department/feedback",
    summary="Rate a provider's data quality for a resource my department received",
    status_code=201,
    responses=_WRITE_ERRORS,
)
def rate_provider(hub: Hub, staff: StaffBearer, body: DepartmentRatingBody) -> JSONResponse:
    department = _admin(staff)
    ask = DepartmentRating(
        department,
        staff.subject,
        body.resource,
        body.score,
        tuple(body.wrong),
        body.comment or None,
    )
    seal = CommentSeal(hub.secrets)  # the comment is stored only sealed
    row = rate_resource(hub.sessions, ask, clock.now(), seal)
    return JSONResponse(reading.rating_view(row, seal), status_code=201)
