"""HTTP routes of usage records, disposal and suspension of agreements (《政务数据共享条例》
art. 25, 27, 29; docs/lifecycle.md, "Use, disposal and suspension").

The consumer department's staff (a department admin or sharing officer, ID token) file usage
records (``POST /department/agreements/{id}/usage-records``; an amendment names the record it
amends) and attest disposal (``POST /department/agreements/{id}/disposal``). The consumer, the
provider and the data authority read them (``GET …/usage-records``, ``GET
/authority/agreements/{id}/usage-records``). The provider's staff or the data authority suspend
an agreement in force (``POST …/suspension``) with reasons and a remedy deadline, reinstate it
(``…/suspension/reinstate``) or, once the deadline passed, terminate it
(``…/suspension/terminate``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from exchange.agreements.models import Agreement
from exchange.api.deps import Hub, HubState, StaffBearer
from exchange.api.problems import problem_responses
from exchange.api.text import DisplayParagraph, DisplayText
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.security.identity import Principal, Role
from exchange.stewardship.errors import StewardshipAgreementNotFound
from exchange.stewardship.models import (
    AgreementSuspension,
    DisposalAttestation,
    ServiceChange,
    UsageRecord,
)
from exchange.stewardship.service import Steward, UsageText, announce_change

__all__ = ["router"]

router = APIRouter(tags=["stewardship"])

TEXT_MAX = 4000
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422)
_READ_ERRORS = problem_responses(401, 403, 404, 422)
_DEPARTMENT_ROLES = frozenset({Role.DEPARTMENT_ADMIN.value, "sharing_officer"})

AgreementId = Annotated[
    str, Path(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
Text = Annotated[DisplayParagraph, Field(min_length=1, max_length=TEXT_MAX)]


class UsageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: Text = Field(description="使用场景")
    process: Text = Field(description="使用过程")
    effect: Text = Field(description="应用成效")
    storage: Text = Field(description="存储情况")
    disposal: Text = Field(description="销毁情况")
    amends: str | None = Field(
        default=None, pattern=r"^use-[0-9a-f-]{36}$", description="The record this one amends"
    )


class DisposalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what: Text = Field(description="The data disposed of")
    how: Text = Field(description="How (删除、粉碎、消磁 …)")
    disposed_on: date
    who: DisplayText = Field(min_length=1, max_length=200, description="Who carried it out")


class SuspensionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reasons: Text = Field(description="The misuse, and what is to be remedied")
    remedy_by: date = Field(description="The last day (China time) to remedy it")


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Text = Field(description="How it was remedied, or why it is terminated")


def _now() -> datetime:
    return datetime.now(UTC)


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _staff(caller: Principal) -> Steward:
    if caller.role is Role.DATA_AUTHORITY:
        return Steward(caller.subject, caller.role.value, None)
    if caller.role.value not in _DEPARTMENT_ROLES or not caller.department:
        raise Forbidden("only a department's administrator or sharing officer, or the authority")
    return Steward(caller.subject, caller.role.value, caller.department)


def _department(caller: Principal) -> Steward:
    actor = _staff(caller)
    if actor.is_authority:
        raise Forbidden("this route is a department's")
    return actor


def _authority(caller: Principal) -> Steward:
    actor = _staff(caller)
    if not actor.is_authority:
        raise Forbidden("only the data authority (主管部门)")
    return actor


def usage_view(row: UsageRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "agreement": row.agreement_id,
        "department": row.department,
        "scenario": row.scenario,
        "process": row.process,
        "effect": row.effect,
        "storage": row.storage,
        "disposal": row.disposal,
        "amends": row.amends,
        "filed_at": _instant(row.filed_at),
        "filed_by": row.filed_by,
        "retain_until": row.retain_until.isoformat(),
    }


def disposal_view(row: DisposalAttestation) -> dict[str, Any]:
    return {
        "id": row.id,
        "agreement": row.agreement_id,
        "what": row.what,
        "how": row.how,
        "disposed_on": row.disposed_on.isoformat(),
        "who": row.who,
        "filed_at": _instant(row.filed_at),
        "filed_by": row.filed_by,
    }


def suspension_view(row: AgreementSuspension) -> dict[str, Any]:
    return {
        "id": row.id,
        "agreement": row.agreement_id,
        "status": row.status.value,
        "reasons": row.reasons,
        "remedy_by": row.remedy_by.isoformat(),
        "suspended_at": _instant(row.suspended_at),
        "suspended_by": row.suspended_by,
        "ended_at": _instant(row.ended_at),
        "ended_by": row.ended_by,
        "ended_note": row.ended_note,
    }


def _records(hub: HubState, actor: Steward, agreement_id: str) -> dict[str, Any]:
    """What the consumer, the provider and the authority see of one agreement's stewardship."""
    with unit_of_work(hub.sessions) as session:
        agreement = session.get(Agreement, agreement_id)
        parties = (
            set()
            if agreement is None
            else {agreement.consumer_department, agreement.provider_department}
        )
        if agreement is None or not (actor.is_authority or actor.department in parties):
            raise StewardshipAgreementNotFound(f"no agreement {agreement_id} of your department")
        usage = session.scalars(
            select(UsageRecord)
            .where(UsageRecord.agreement_id == agreement_id)
            .order_by(UsageRecord.filed_at, UsageRecord.id)
        ).all()
        disposals = session.scalars(
            select(DisposalAttestation)
            .where(DisposalAttestation.agreement_id == agreement_id)
            .order_by(DisposalAttestation.filed_at)
        ).all()
        suspensions = session.scalars(
            select(AgreementSuspension)
            .where(AgreementSuspension.agreement_id == agreement_id)
            .order_by(AgreementSuspension.suspended_at)
        ).all()
        return {
            "agreement": agreement_id,
            "consumer": agreement.consumer_department,
            "provider": agreement.provider_department,
            "usage_records": [usage_view(r) for r in usage],
            "disposals": [disposal_view(r) for r in disposals],
            "suspensions": [suspension_view(r) for r in suspensions],
        }


# -- the consumer -------------------------------------------------------------------------------


@router.post(
    "/department/agreements/{agreement_id}/usage-records",
    summary="File a usage record of an agreement my department consumes under (art. 25)",
    tags=["department"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def file_usage(
    hub: Hub, caller: StaffBearer, agreement_id: AgreementId, body: UsageBody
) -> JSONResponse:
    text = UsageText(body.scenario, body.process, body.effect, body.storage, body.disposal)
    row = hub.stewardship.file_usage(_department(caller), agreement_id, text, _now(), body.amends)
    return JSONResponse(usage_view(row), status_code=201)


@router.post(
    "/department/agreements/{agreement_id}/disposal",
    summary="Attest disposal once the purpose is met or the term ended (art. 27)",
    tags=["department"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def attest_disposal(
    hub: Hub, caller: StaffBearer, agreement_id: AgreementId, body: DisposalBody
) -> JSONResponse:
    row = hub.stewardship.attest_disposal(
        _department(caller), agreement_id, body.what, body.how, body.disposed_on, body.who, _now()
    )
    return JSONResponse(disposal_view(row), status_code=201)


@router.get(
    "/department/agreements/{agreement_id}/usage-records",
    summary="Usage records, disposal and suspensions of an agreement my department is party to",
    tags=["department"],
    responses=_READ_ERRORS,
)
def department_records(hub: Hub, caller: StaffBearer, agreement_id: AgreementId) -> dict[str, Any]:
    return _records(hub, _department(caller), agreement_id)


@router.get(
    "/authority/agreements/{agreement_id}/usage-records",
    summary="Usage records, disposal and suspensions of an agreement (data authority)",
    tags=["data authority"],
    responses=_READ_ERRORS,
)
def authority_records(hub: Hub, caller: StaffBearer, agreement_id: AgreementId) -> dict[str, Any]:
    return _records(hub, _authority(caller), agreement_id)


# -- the provider or the authority ----------------------------------------------------------


def _suspend(hub: HubState, actor: Steward, agreement_id: str, body: SuspensionBody) -> Any:
    row = hub.stewardship.suspend(actor, agreement_id, body.reasons, body.remedy_by, _now())
    return JSONResponse(suspension_view(row), status_code=201)


@router.post(
    "/department/agreements/{agreement_id}/suspension",
    summary="Suspend an agreement my department provides under, for misuse (art. 29)",
    tags=["department"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def department_suspend(
    hub: Hub, caller: StaffBearer, agreement_id: AgreementId, body: SuspensionBody
) -> JSONResponse:
    response: JSONResponse = _suspend(hub, _department(caller), agreement_id, body)
    return response


@router.post(
    "/authority/agreements/{agreement_id}/suspension",
    summary="Suspend an agreement for misuse (data authority, art. 29)",
    tags=["data authority"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def authority_suspend(
    hub: Hub, caller: StaffBearer, agreement_id: AgreementId, body: SuspensionBody
) -> JSONResponse:
    response: JSONResponse = _suspend(hub, _authority(caller), agreement_id, body)
    return response


@router.post(
    "/department/agreements/{agreement_id}/suspension/reinstate",
    summary="Reinstate a suspended agreement once the misuse was remedied",
    tags=["department"],
    responses=_WRITE_ERRORS,
)
def reinstate(
    hub: Hub, caller: StaffBearer, agreement_id: AgreementId, body: NoteBody
) -> dict[str, Any]:
    row = hub.stewardship.reinstate(_staff(caller), agreement_id, body.note, _now())
    return suspension_view(row)


@router.post(
    "/department/agreements/{agreement_id}/suspension/terminate",
    summary="Terminate a suspended agreement whose remedy deadline passed",
    tags=["department"],
    responses=_WRITE_ERRORS,
)
def terminate(
    hub: Hub, caller: StaffBearer, agreement_id: AgreementId, body: NoteBody
) -> dict[str, Any]:
    row = hub.stewardship.terminate(_staff(caller), agreement_id, body.note, _now())
    return suspension_view(row)


# -- service changes ----------------------------------------------------------------------------


class ServiceChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    change: Literal["stop", "change"] = Field(description="`stop` the service, or `change` it")
    fields: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]] = Field(
        default_factory=list, max_length=200, description="The fields it concerns (none: all)"
    )
    effective_on: date = Field(description="From when (China time), a day after today at least")
    reason: Text = Field(description="Why (说明理由)")


def change_view(row: ServiceChange) -> dict[str, Any]:
    return {
        "id": row.id,
        "resource": row.resource_code,
        "provider": row.provider,
        "change": row.change,
        "fields": row.fields,
        "effective_on": row.effective_on.isoformat(),
        "reason": row.reason,
        "filed_at": _instant(row.filed_at),
        "filed_by": row.filed_by,
    }


ResourceCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post(
    "/department/resources/{resource_code}/service-changes",
    summary="Announce, with a reason, that my department stops or changes a service (art. 29)",
    tags=["department"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def post_service_change(
    hub: Hub, caller: StaffBearer, resource_code: ResourceCode, body: ServiceChangeBody
) -> JSONResponse:
    row, reached = announce_change(
        hub.sessions,
        _department(caller),
        resource_code,
        (body.change, body.fields),
        body.effective_on,
        body.reason,
        _now(),
    )
    return JSONResponse({**change_view(row), "agreements": reached}, status_code=201)


@router.get(
    "/department/service-changes",
    summary="Service changes announced for resources my department provides or has agreements on",
    tags=["department"],
    responses=_READ_ERRORS,
)
def department_service_changes(hub: Hub, caller: StaffBearer) -> dict[str, Any]:
    actor = _department(caller)
    with unit_of_work(hub.sessions) as session:
        consumed = select(Agreement.resource_code).where(
            Agreement.consumer_department == actor.department
        )
        rows = session.scalars(
            select(ServiceChange)
            .where(
                (ServiceChange.provider == actor.department)
                | ServiceChange.resource_code.in_(consumed)
            )
            .order_by(ServiceChange.filed_at.desc())
        ).all()
        return {"service_changes": [change_view(r) for r in rows]}
