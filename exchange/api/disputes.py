"""HTTP routes of disputes between departments (数据共享争议, 《政务数据共享条例》 art. 28;
docs/lifecycle.md, "Disputes").

Department staff (a department admin or sharing officer, ID token): ``POST /department/disputes``
opens one with another department over a matter both are party to; ``GET /department/disputes``
lists theirs with each open clock; ``…/{id}/positions``, ``…/{id}/settlement`` and
``…/{id}/settlement/confirm`` negotiate; ``…/{id}/escalate`` takes it to the data authority.
The data authority (ID token, role ``data_authority``): ``GET /authority/disputes`` lists every
dispute; ``…/{id}/decision`` decides one with reasons; ``…/{id}/escalate`` records its referral
to the common superior, then to the government at that level; ``…/{id}/outcome`` records the
outcome they reached, with the SHA-256 of the document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from exchange.api.deps import Hub, HubState, StaffBearer
from exchange.api.problems import problem_responses
from exchange.api.text import DisplayParagraph, DisplayText
from exchange.db import unit_of_work
from exchange.disputes import reading
from exchange.disputes.models import Dispute, DisputeLevel, MatterKind
from exchange.disputes.service import DisputeActor, Document
from exchange.errors import Forbidden
from exchange.security.identity import Principal, Role

__all__ = ["router"]

router = APIRouter(tags=["disputes"])

TEXT_MAX = 4000
"""The longest statement, position, settlement, decision or reasons, in characters."""
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422)
_READ_ERRORS = problem_responses(401, 403, 404, 422)
_DEPARTMENT_ROLES = frozenset({Role.DEPARTMENT_ADMIN.value, "sharing_officer"})
"""A department's administrator, and its sharing officer (数据共享负责人) where the hub has that
role."""

DisputeId = Annotated[str, Path(pattern=r"^dsp-[0-9a-f-]{36}$", description="dsp-… id")]
StatusFilter = Annotated[
    Literal["open", "all"], Query(description="`open`: only disputes still open")
]
Text = Annotated[DisplayParagraph, Field(max_length=TEXT_MAX)]
Reasons = Annotated[
    DisplayParagraph,
    Field(max_length=TEXT_MAX, description="The reasons (说明理由): required, not blank"),
]


class MatterRef(BaseModel):
    """The sharing matter: an application or agreement id, a correction request id, or a
    catalogue entry (resource code)."""

    model_config = ConfigDict(extra="forbid")

    kind: MatterKind
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


class OpenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    respondent: str = Field(
        min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$", description="Department code"
    )
    matter: MatterRef
    statement: Text = Field(description="What is disputed and what the claimant asks")


class TextBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text


class SettlementBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms: Text = Field(description="The settlement both departments agree to (协商一致)")


class DepartmentEscalation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: DisputeLevel = Field(description="The next level: `authority` (共享工作主管部门)")
    reasons: Reasons = ""


class DocumentRef(BaseModel):
    """A document outside the hub, named, with the SHA-256 (hex) of its bytes."""

    model_config = ConfigDict(extra="forbid")

    name: DisplayText = Field(min_length=1, max_length=200)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class AuthorityEscalation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: DisputeLevel = Field(
        description="The next level: `superior` (上级共同主管部门), "
        "then `government` (本级人民政府)"
    )
    reasons: Reasons = ""
    document: DocumentRef | None = Field(default=None, description="The referral document")


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Text
    reasons: Reasons = ""


class OutcomeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Text
    document: DocumentRef


def _now() -> datetime:
    return datetime.now(UTC)


def _department_actor(caller: Principal) -> DisputeActor:
    if caller.role.value not in _DEPARTMENT_ROLES or not caller.department:
        raise Forbidden("only a department's administrator or sharing officer handles disputes")
    return DisputeActor(caller.subject, caller.role.value, caller.department)


def _authority_actor(caller: Principal) -> DisputeActor:
    if caller.role is not Role.DATA_AUTHORITY:
        raise Forbidden("only the data authority (主管部门) handles disputes here")
    return DisputeActor(caller.subject, caller.role.value, None)


def _document(ref: DocumentRef | None) -> Document | None:
    return None if ref is None else Document(ref.name, ref.sha256)


def _one(hub: HubState, actor: DisputeActor, row: Dispute) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        return reading.dispute_view(session, row, actor, _now())


def _list(hub: HubState, actor: DisputeActor, status: str) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions) as session:
        rows = reading.disputes_of(session, actor, open_only=status == "open")
        views = reading.dispute_views(session, rows, actor, now)
    return {"department": actor.department, "disputes": views}


def _read(hub: HubState, actor: DisputeActor, dispute_id: str) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        row = reading.one_of(session, actor, dispute_id)
        return reading.dispute_view(session, row, actor, _now())


# -- departments ------------------------------------------------------------------------------


@router.post(
    "/department/disputes",
    summary="Open a dispute with another department over a sharing matter (art. 28)",
    tags=["department"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def open_dispute(hub: Hub, caller: StaffBearer, body: OpenBody) -> JSONResponse:
    actor = _department_actor(caller)
    matter = (body.matter.kind, body.matter.id)
    row = hub.disputes.open(actor, body.respondent, matter, body.statement, _now())
    return JSONResponse(_one(hub, actor, row), status_code=201)


@router.get(
    "/department/disputes",
    summary="The disputes my department is party to, open first, with each level's clock",
    tags=["department"],
    responses=_READ_ERRORS,
)
def department_disputes(
    hub: Hub, caller: StaffBearer, status: StatusFilter = "all"
) -> dict[str, Any]:
    return _list(hub, _department_actor(caller), status)


@router.get(
    "/department/disputes/{dispute_id}",
    summary="One dispute my department is party to, with its steps",
    tags=["department"],
    responses=_READ_ERRORS,
)
def department_dispute(hub: Hub, caller: StaffBearer, dispute_id: DisputeId) -> dict[str, Any]:
    return _read(hub, _department_actor(caller), dispute_id)


@router.post(
    "/department/disputes/{dispute_id}/positions",
    summary="Record my department's position (negotiation, or before the authority)",
    tags=["department"],
    responses=_WRITE_ERRORS,
)
def record_position(
    hub: Hub, caller: StaffBearer, dispute_id: DisputeId, body: TextBody
) -> dict[str, Any]:
    actor = _department_actor(caller)
    return _one(hub, actor, hub.disputes.position(actor, dispute_id, body.text, _now()))


@router.post(
    "/department/disputes/{dispute_id}/settlement",
    summary="Propose the agreed settlement; the other department confirms it",
    tags=["department"],
    responses=_WRITE_ERRORS,
)
def propose_settlement(
    hub: Hub, caller: StaffBearer, dispute_id: DisputeId, body: SettlementBody
) -> dict[str, Any]:
    actor = _department_actor(caller)
    row = hub.disputes.propose_settlement(actor, dispute_id, body.terms, _now())
    return _one(hub, actor, row)


@router.post(
    "/department/disputes/{dispute_id}/settlement/confirm",
    summary="Confirm the settlement the other department proposed: the dispute is settled",
    tags=["department"],
    responses=_WRITE_ERRORS,
)
def confirm_settlement(hub: Hub, caller: StaffBearer, dispute_id: DisputeId) -> dict[str, Any]:
    actor = _department_actor(caller)
    return _one(hub, actor, hub.disputes.confirm_settlement(actor, dispute_id, _now()))


@router.post(
    "/department/disputes/{dispute_id}/escalate",
    summary="Take the dispute to the data authority (after negotiation, or its clock ran out)",
    tags=["department"],
    responses=_WRITE_ERRORS,
)
def department_escalate(
    hub: Hub, caller: StaffBearer, dispute_id: DisputeId, body: DepartmentEscalation
) -> dict[str, Any]:
    actor = _department_actor(caller)
    row = hub.disputes.escalate(actor, dispute_id, body.to, body.reasons, _now())
    return _one(hub, actor, row)


# -- the data authority -----------------------------------------------------------------------


@router.get(
    "/authority/disputes",
    summary="Every dispute between departments, open first, with each level's clock",
    tags=["data authority"],
    responses=_READ_ERRORS,
)
def authority_disputes(
    hub: Hub, caller: StaffBearer, status: StatusFilter = "all"
) -> dict[str, Any]:
    return _list(hub, _authority_actor(caller), status)


@router.get(
    "/authority/disputes/{dispute_id}",
    summary="One dispute, with its steps",
    tags=["data authority"],
    responses=_READ_ERRORS,
)
def authority_dispute(hub: Hub, caller: StaffBearer, dispute_id: DisputeId) -> dict[str, Any]:
    return _read(hub, _authority_actor(caller), dispute_id)


@router.post(
    "/authority/disputes/{dispute_id}/decision",
    summary="Decide a dispute the authority has, with reasons (协调决定)",
    tags=["data authority"],
    responses=_WRITE_ERRORS,
)
def decide(
    hub: Hub, caller: StaffBearer, dispute_id: DisputeId, body: DecisionBody
) -> dict[str, Any]:
    actor = _authority_actor(caller)
    row = hub.disputes.decide(actor, dispute_id, body.decision, body.reasons, _now())
    return _one(hub, actor, row)


@router.post(
    "/authority/disputes/{dispute_id}/escalate",
    summary="Record the referral to the common superior, then to the government at that level",
    tags=["data authority"],
    responses=_WRITE_ERRORS,
)
def authority_escalate(
    hub: Hub, caller: StaffBearer, dispute_id: DisputeId, body: AuthorityEscalation
) -> dict[str, Any]:
    actor = _authority_actor(caller)
    row = hub.disputes.escalate(
        actor, dispute_id, body.to, body.reasons, _now(), _document(body.document)
    )
    return _one(hub, actor, row)


@router.post(
    "/authority/disputes/{dispute_id}/outcome",
    summary="Record the outcome the common superior or the government reached",
    tags=["data authority"],
    responses=_WRITE_ERRORS,
)
def record_outcome(
    hub: Hub, caller: StaffBearer, dispute_id: DisputeId, body: OutcomeBody
) -> dict[str, Any]:
    actor = _authority_actor(caller)
    document = Document(body.document.name, body.document.sha256)
    row = hub.disputes.record_outcome(actor, dispute_id, body.outcome, document, _now())
    return _one(hub, actor, row)
