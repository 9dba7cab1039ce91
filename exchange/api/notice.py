"""HTTP routes of deferred notices (延迟告知, PIPL art. 18 and 35; docs/notice.md).

Department admins (ID token): ``POST /department/deferrals`` asks to defer the notice of one of
their department's accesses; a second admin of the department approves
(``…/{id}/approve``) or refuses (``…/{id}/refuse``) it; ``…/{id}/event`` records the event a
deferral waits for; ``GET /department/deferrals`` lists the department's. Auditors:
``GET /audit/deferrals`` lists every deferral with its log entries and the checks (two people,
a legal basis, the reason's digest). Citizens see nothing of a deferral in effect, and the
mark on an access once it has ended (``GET /citizen/accesses``).

Standing deferrals, declared before any access (``exchange.notice.standing``):
``POST /department/standing-deferrals`` declares one for some of the department's systems and
one citizen over a period; ``…/{id}/approve``, ``…/{id}/refuse``, ``…/{id}/event`` as above;
``GET /department/standing-deferrals`` and ``GET /audit/standing-deferrals`` list them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from catalogue.models import System
from exchange.api.deps import Hub, StaffBearer
from exchange.api.exchange import SubjectRef
from exchange.api.problems import problem_responses
from exchange.api.text import DisplayParagraph, DisplayText
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.notice import reading, service, standing
from exchange.notice.models import ReasonKind
from exchange.notice.standing_reading import standing_views
from exchange.security.identity import Role

__all__ = ["router"]

router = APIRouter(tags=["notice"])

_ID = Annotated[str, Path(pattern=r"^dfr-[0-9a-f-]{36}$", description="The deferral's id")]
_STATUS = Literal["requested", "active", "refused", "ended"]


class DeferralBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access: int = Field(ge=0, le=2**62, description="The access's index in the audit log")
    reason_kind: ReasonKind = Field(
        description="criminal_investigation 刑事侦查, administrative_investigation 行政调查, "
        "national_security 国家安全, statutory_secrecy 法律、行政法规规定应当保密"
    )
    reason: DisplayParagraph = Field(
        min_length=2, max_length=2000, description="For auditors only; the log holds its digest"
    )
    legal_basis: DisplayText | None = Field(
        default=None, max_length=500, description="The law that makes secrecy lawful (required)"
    )
    until: date | None = Field(default=None, description="The China day it ends on")
    until_event: DisplayText | None = Field(
        default=None, min_length=2, max_length=200, description="Or the event that ends it"
    )

    @model_validator(mode="after")
    def _one_end(self) -> DeferralBody:
        if (self.until is None) == (self.until_event is None):
            raise ValueError("name either until (a date) or until_event, not both")
        return self


class DeferralEntry(BaseModel):
    index: int
    outcome: str
    entry: str = Field(description="The canonical `notice` entry as the log holds it")


class Deferral(BaseModel):
    id: str
    access: int
    system: str
    system_name: str | None = Field(description="The system's registered name")
    department: str
    department_name: str | None = Field(description="The department's name")
    status: _STATUS
    reason_kind: str
    reason: str
    reason_salt: str = Field(description="Hex; reason_digest = SHA-256(tag ‖ salt ‖ reason)")
    legal_basis: str
    until: str | None
    until_event: str | None
    requested_by: str
    requested_at: str
    decided_by: str | None
    decided_at: str | None
    ended_at: str | None
    ended_by: str | None
    entries: list[DeferralEntry]
    checks: dict[str, bool] = Field(description="What an auditor checks (docs/notice.md)")
    checks_pass: bool


class Deferrals(BaseModel):
    deferrals: list[Deferral]


def _now() -> datetime:
    return datetime.now(UTC)


def _one(hub: Hub, deferral_id: str) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        return reading.deferral_views(session, deferral_id=deferral_id)[0]


@router.post(
    "/department/deferrals",
    summary="Ask to defer the notice of an access of my department (department admin)",
    status_code=201,
    response_model=Deferral,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def request_deferral(hub: Hub, staff: StaffBearer, body: DeferralBody) -> JSONResponse:
    ask = service.DeferralAsk(
        access=body.access,
        reason_kind=body.reason_kind,
        reason=body.reason,
        legal_basis=body.legal_basis or "",
        until=body.until,
        until_event=body.until_event,
    )
    with unit_of_work(hub.sessions, write=True) as session:
        row = service.request_deferral(session, staff, ask, _now())
        deferral_id = row.id
    return JSONResponse(_one(hub, deferral_id), status_code=201)


def _decide(hub: Hub, staff: StaffBearer, deferral_id: str, *, approve: bool) -> dict[str, Any]:
    with unit_of_work(hub.sessions, write=True) as session:
        service.decide_deferral(session, staff, deferral_id, approve=approve, now=_now())
    return _one(hub, deferral_id)


@router.post(
    "/department/deferrals/{deferral_id}/approve",
    summary="Approve a deferral another admin of my department asked for (department admin)",
    response_model=Deferral,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def approve(hub: Hub, staff: StaffBearer, deferral_id: _ID) -> dict[str, Any]:
    return _decide(hub, staff, deferral_id, approve=True)


@router.post(
    "/department/deferrals/{deferral_id}/refuse",
    summary="Refuse a deferral another admin of my department asked for (department admin)",
    response_model=Deferral,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def refuse(hub: Hub, staff: StaffBearer, deferral_id: _ID) -> dict[str, Any]:
    return _decide(hub, staff, deferral_id, approve=False)


@router.post(
    "/department/deferrals/{deferral_id}/event",
    summary="Record the event a deferral waits for: the access is shown (department admin)",
    response_model=Deferral,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def record_event(hub: Hub, staff: StaffBearer, deferral_id: _ID) -> dict[str, Any]:
    with unit_of_work(hub.sessions, write=True) as session:
        service.record_event(session, staff, deferral_id, _now())
    return _one(hub, deferral_id)


@router.get(
    "/department/deferrals",
    summary="My department's deferrals (department admin)",
    response_model=Deferrals,
    responses=problem_responses(401, 403, 422),
)
def department_deferrals(
    hub: Hub, staff: StaffBearer, status: Annotated[_STATUS | None, Query()] = None
) -> dict[str, Any]:
    if staff.role is not Role.DEPARTMENT_ADMIN or not staff.department:
        raise Forbidden("only a department admin may read the department's deferrals")
    with unit_of_work(hub.sessions) as session:
        views = reading.deferral_views(session, department=staff.department, status=status)
    return {"deferrals": views}


@router.get(
    "/audit/deferrals",
    summary="Every deferral, with its audit entries and the checks (auditor)",
    response_model=Deferrals,
    responses=problem_responses(401, 403, 422),
)
def audit_deferrals(
    hub: Hub, staff: StaffBearer, status: Annotated[_STATUS | None, Query()] = None
) -> dict[str, Any]:
    if staff.role is not Role.AUDITOR:
        raise Forbidden("only an auditor may read every deferral")
    with unit_of_work(hub.sessions) as session:
        views = reading.deferral_views(session, status=status)
    return {"deferrals": views}


# -- standing deferrals ----------------------------------------------------------------------

_STANDING_ID = Annotated[
    str, Path(pattern=r"^sdf-[0-9a-f-]{36}$", description="The standing deferral's id")
]


class StandingBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    systems: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=50, description="The department's systems it covers"
    )
    subject: SubjectRef = Field(description="The citizen whose notice is deferred")
    reason_kind: ReasonKind = Field(description="As for a deferral of one access")
    reason: DisplayParagraph = Field(
        min_length=2, max_length=2000, description="For auditors only; the log holds its digest"
    )
    legal_basis: DisplayText | None = Field(
        default=None, max_length=500, description="The law that makes secrecy lawful (required)"
    )
    starts: date | None = Field(
        default=None, alias="from", description="The China day it starts covering (default today)"
    )
    until: date | None = Field(default=None, description="The China day it ends on")
    until_event: DisplayText | None = Field(
        default=None, min_length=2, max_length=200, description="Or the event that ends it"
    )

    @model_validator(mode="after")
    def _one_end(self) -> StandingBody:
        if (self.until is None) == (self.until_event is None):
            raise ValueError("name either until (a date) or until_event, not both")
        return self


class SystemName(BaseModel):
    id: str
    name: str | None


class StandingDeferralView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    systems: list[SystemName]
    department: str
    department_name: str | None
    subject: str = Field(description="The citizen's keyed pseudonym, as the log files accesses")
    status: _STATUS
    reason_kind: str
    reason: str
    reason_salt: str = Field(description="Hex; the salt of reason_digest and subject_digest")
    legal_basis: str
    starts: str = Field(alias="from", description="The China day it covers accesses from")
    until: str | None
    until_event: str | None
    requested_by: str
    requested_at: str
    decided_by: str | None
    decided_at: str | None
    ended_at: str | None
    ended_by: str | None
    accesses: list[int] = Field(description="The audit indexes of the accesses it covers")
    entries: list[DeferralEntry]
    checks: dict[str, bool] = Field(description="What an auditor checks (docs/notice.md)")
    checks_pass: bool


class StandingDeferrals(BaseModel):
    deferrals: list[StandingDeferralView]
    systems: list[SystemName] | None = Field(
        default=None, description="The department's systems one may cover (department admin)"
    )


def _standing_one(hub: Hub, deferral_id: str) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        return standing_views(session, deferral_id=deferral_id)[0]


@router.post(
    "/department/standing-deferrals",
    summary="Declare a standing deferral: accesses by my systems about one citizen are hidden "
    "from them once a second admin approves (department admin)",
    status_code=201,
    response_model=StandingDeferralView,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 422),
)
def declare_standing(hub: Hub, staff: StaffBearer, body: StandingBody) -> JSONResponse:
    ask = standing.StandingAsk(
        systems=tuple(body.systems),
        id_type=body.subject.id_type,
        subject_id=body.subject.id,
        reason_kind=body.reason_kind,
        reason=body.reason,
        legal_basis=body.legal_basis or "",
        starts=body.starts,
        until=body.until,
        until_event=body.until_event,
    )
    with unit_of_work(hub.sessions, write=True) as session:
        row = standing.declare(session, staff, ask, hub.pseudonyms, _now())
        deferral_id = row.id
    return JSONResponse(_standing_one(hub, deferral_id), status_code=201)


def _standing_decide(
    hub: Hub, staff: StaffBearer, deferral_id: str, *, approve: bool
) -> dict[str, Any]:
    with unit_of_work(hub.sessions, write=True) as session:
        standing.decide(session, staff, deferral_id, approve=approve, now=_now())
    return _standing_one(hub, deferral_id)


@router.post(
    "/department/standing-deferrals/{deferral_id}/approve",
    summary="Approve a standing deferral another admin of my department declared",
    response_model=StandingDeferralView,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def approve_standing(hub: Hub, staff: StaffBearer, deferral_id: _STANDING_ID) -> dict[str, Any]:
    return _standing_decide(hub, staff, deferral_id, approve=True)


@router.post(
    "/department/standing-deferrals/{deferral_id}/refuse",
    summary="Refuse a standing deferral another admin of my department declared",
    response_model=StandingDeferralView,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def refuse_standing(hub: Hub, staff: StaffBearer, deferral_id: _STANDING_ID) -> dict[str, Any]:
    return _standing_decide(hub, staff, deferral_id, approve=False)


@router.post(
    "/department/standing-deferrals/{deferral_id}/event",
    summary="Record the event a standing deferral waits for: what it covered is shown",
    response_model=StandingDeferralView,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def standing_event(hub: Hub, staff: StaffBearer, deferral_id: _STANDING_ID) -> dict[str, Any]:
    with unit_of_work(hub.sessions, write=True) as session:
        standing.record_event(session, staff, deferral_id, _now())
    return _standing_one(hub, deferral_id)


@router.get(
    "/department/standing-deferrals",
    summary="My department's standing deferrals (department admin)",
    response_model=StandingDeferrals,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 422),
)
def department_standing(
    hub: Hub, staff: StaffBearer, status: Annotated[_STATUS | None, Query()] = None
) -> dict[str, Any]:
    if staff.role is not Role.DEPARTMENT_ADMIN or not staff.department:
        raise Forbidden("only a department admin may read the department's deferrals")
    with unit_of_work(hub.sessions) as session:
        views = standing_views(session, department=staff.department, status=status)
        systems = session.execute(
            select(System.id, System.name)
            .where(System.department_code == staff.department)
            .order_by(System.id)
        )
        return {"deferrals": views, "systems": [{"id": i, "name": n} for i, n in systems]}


@router.get(
    "/audit/standing-deferrals",
    summary="Every standing deferral, with its audit entries, what it covers and the checks",
    response_model=StandingDeferrals,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 422),
)
def audit_standing(
    hub: Hub, staff: StaffBearer, status: Annotated[_STATUS | None, Query()] = None
) -> dict[str, Any]:
    if staff.role is not Role.AUDITOR:
        raise Forbidden("only an auditor may read every deferral")
    with unit_of_work(hub.sessions) as session:
        return {"deferrals": standing_views(session, status=status)}
