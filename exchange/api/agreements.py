"""HTTP routes of sharing agreements (有条件共享): apply, decide, revoke, read.

Every route needs a staff ID token. A consumer department's admin applies; the provider
department's admin decides and revokes; both sides read theirs, auditors read all. An agreement
the caller may not see is a 404, never a 403. Nobody decides an application they filed (403
``own_application``). Free text (reasons, the application's justification and legal basis)
with control or bidi-formatting characters is refused (422), naming the field. Each agreement's
view carries ``names``: the registry's names of the codes a reader would otherwise see.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from exchange.agreements.applications import NOTICE_MATERIALS, SHARING_MODES
from exchange.agreements.errors import InvalidApplication, InvalidDecision
from exchange.agreements.models import Agreement, AgreementStatus
from exchange.agreements.reading import (
    Party,
    agreement_views,
    extension_requests,
    list_agreements,
    visible_agreement,
)
from exchange.agreements.replies import (
    ExtensionDecision,
    decide_extension,
    deliver,
    request_extension,
    send_materials_notice,
    supply_materials,
)
from exchange.agreements.service import (
    Approval,
    Refusal,
    apply_for_agreement,
    decide_application,
    parse_instant,
    revoke_agreement,
)
from exchange.api.deps import Hub, StaffBearer
from exchange.api.problems import problem_responses
from exchange.api.text import DisplayParagraph, DisplayText
from exchange.audit.reading import AccessNames
from exchange.db import unit_of_work
from policies.model import Release, RowCondition
from schemas import load_schema

router = APIRouter(prefix="/agreements", tags=["agreements"])

FIELD = r"^[a-z][a-z0-9_]{0,62}$"
INSTANT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?$"
)


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every local ``#/$defs/…`` reference replaced by its definition, so the
    OpenAPI document states the same rules as the JSON Schema the hub validates against."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inlined(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(item, defs) for item in node]
    return node


_AGREEMENT_SCHEMA = load_schema("agreement")
_APPLICATION_BODY = {
    "requestBody": {
        "required": True,
        "description": "An application (/schemas/agreement.schema.json, $defs/application).",
        "content": {
            "application/json": {
                "schema": _inlined(
                    _AGREEMENT_SCHEMA["$defs"]["application"], _AGREEMENT_SCHEMA["$defs"]
                )
            }
        },
    }
}
FieldName = Annotated[str, Field(pattern=FIELD)]
# Every route needs a staff ID token; an agreement the caller may not see is a 404.
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 422)
_READ_ERRORS = problem_responses(401, 403, 404, 422)


class RowConditionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: FieldName
    prefix: DisplayText = Field(min_length=1, max_length=64)


class ApproveBody(BaseModel):
    """Approve some or all of the fields applied for, with conditions."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve"]
    fields: list[FieldName] = Field(min_length=1, max_length=200)
    overrides: dict[str, Release] = Field(default_factory=dict)
    row_condition: RowConditionBody | None = None
    daily_quota: int | None = Field(default=None, ge=1, le=100_000_000)
    requires_consent: bool = False
    valid_until: str | None = Field(default=None, pattern=INSTANT)


class RefuseBody(BaseModel):
    """Refuse, with reasons (不予批准须说明理由)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["refuse"]
    reason: DisplayParagraph = Field(min_length=1, max_length=4000)


DecisionBody = Annotated[ApproveBody | RefuseBody, Field(discriminator="decision")]


@router.post(
    "",
    summary="Apply for conditional sharing (consumer department admin)",
    status_code=201,
    openapi_extra=_APPLICATION_BODY,
    responses=_WRITE_ERRORS,
)
def post_application(
    hub: Hub, staff: StaffBearer, application: Annotated[dict[str, Any], Body()]
) -> JSONResponse:
    now = datetime.now(UTC)
    with unit_of_work(hub.sessions, write=True) as session:
        agreement = apply_for_agreement(
            session, staff, application, now=now, clocks=hub.application_clocks
        )
        view = _views(session, [agreement], now)[0]
    return JSONResponse(view, status_code=201)


@router.post(
    "/{agreement_id}/decision",
    summary="Approve or refuse (provider department admin)",
    responses=_WRITE_ERRORS,
)
def post_decision(
    hub: Hub, staff: StaffBearer, agreement_id: str, body: Annotated[DecisionBody, Body()]
) -> dict[str, Any]:
    now = datetime.now(UTC)
    decision = _decision(body)
    with unit_of_work(hub.sessions, write=True) as session:
        agreement = decide_application(
            session,
            staff,
            agreement_id,
            decision,
            keys=hub.keys,
            now=now,
            clocks=hub.application_clocks,
        )
        return _views(session, [agreement], now)[0]


def _decision(body: ApproveBody | RefuseBody) -> Approval | Refusal:
    if isinstance(body, RefuseBody):
        return Refusal(body.reason)
    try:
        until = (
            parse_instant(body.valid_until, end_of_day=True, at="/valid_until")
            if body.valid_until
            else None
        )
    except InvalidApplication as exc:
        raise InvalidDecision(exc.detail, errors=exc.errors) from None
    condition = body.row_condition
    return Approval(
        fields=tuple(body.fields),
        overrides=dict(body.overrides),
        row_condition=RowCondition(condition.field, condition.prefix) if condition else None,
        daily_quota=body.daily_quota,
        requires_consent=body.requires_consent,
        valid_until=until,
    )


@router.post(
    "/{agreement_id}/revoke",
    summary="Revoke an approved agreement (provider admin)",
    responses=_WRITE_ERRORS,
)
def post_revoke(
    hub: Hub,
    staff: StaffBearer,
    agreement_id: str,
    reason: Annotated[DisplayParagraph, Body(embed=True, min_length=1, max_length=4000)],
) -> dict[str, Any]:
    now = datetime.now(UTC)
    with unit_of_work(hub.sessions, write=True) as session:
        agreement = revoke_agreement(session, staff, agreement_id, reason=reason, now=now)
        return _views(session, [agreement], now)[0]


class NoticeItem(BaseModel):
    """One missing material: which, and what exactly is missing."""

    model_config = ConfigDict(extra="forbid")

    material: Literal[NOTICE_MATERIALS]  # type: ignore[valid-type]
    detail: DisplayParagraph = Field(min_length=1, max_length=2000)


class NoticeBody(BaseModel):
    """The one notice of missing materials (一次性告知): everything missing, at once."""

    model_config = ConfigDict(extra="forbid")

    items: list[NoticeItem] = Field(min_length=1, max_length=len(NOTICE_MATERIALS))


class MaterialsBody(BaseModel):
    """What the notice listed: members of ``use``, a more precise legal basis, another
    document described in ``other``."""

    model_config = ConfigDict(extra="forbid")

    use: dict[str, Any] | None = None
    legal_basis: DisplayText | None = Field(default=None, min_length=1, max_length=500)
    other: DisplayParagraph | None = Field(default=None, min_length=1, max_length=4000)


class ExtensionBody(BaseModel):
    """Ask the data authority to extend the reply clock, once, with the reason."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(ge=1, le=10)
    reason: DisplayParagraph = Field(min_length=1, max_length=4000)


class ExtensionDecisionBody(BaseModel):
    """The data authority approves or refuses (a refusal with its reason)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "refuse"]
    reason: DisplayParagraph | None = Field(default=None, max_length=4000)


class DeliveryBody(BaseModel):
    """The channel the data is delivered through (one the agreement names)."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal[SHARING_MODES]  # type: ignore[valid-type]


@router.post(
    "/{agreement_id}/materials-notice",
    summary="The one notice of missing materials (provider's sharing officer)",
    responses=_WRITE_ERRORS,
)
def post_materials_notice(
    hub: Hub, staff: StaffBearer, agreement_id: str, body: Annotated[NoticeBody, Body()]
) -> dict[str, Any]:
    now = datetime.now(UTC)
    items = [item.model_dump() for item in body.items]
    with unit_of_work(hub.sessions, write=True) as session:
        agreement = send_materials_notice(session, staff, agreement_id, items, now=now)
        return _views(session, [agreement], now)[0]


@router.post(
    "/{agreement_id}/materials",
    summary="Supply the materials the notice listed (consumer's sharing officer)",
    responses=_WRITE_ERRORS,
)
def post_materials(
    hub: Hub, staff: StaffBearer, agreement_id: str, body: Annotated[MaterialsBody, Body()]
) -> dict[str, Any]:
    now = datetime.now(UTC)
    supplied = body.model_dump(exclude_none=True)
    with unit_of_work(hub.sessions, write=True) as session:
        agreement = supply_materials(
            session, staff, agreement_id, supplied, now=now, clocks=hub.application_clocks
        )
        return _views(session, [agreement], now)[0]


@router.post(
    "/{agreement_id}/extension",
    summary="Ask to extend the reply clock once (provider's sharing officer)",
    responses=_WRITE_ERRORS,
)
def post_extension(
    hub: Hub, staff: StaffBearer, agreement_id: str, body: Annotated[ExtensionBody, Body()]
) -> dict[str, Any]:
    now = datetime.now(UTC)
    with unit_of_work(hub.sessions, write=True) as session:
        agreement = request_extension(
            session,
            staff,
            agreement_id,
            days=body.days,
            reason=body.reason,
            now=now,
            clocks=hub.application_clocks,
        )
        return _views(session, [agreement], now)[0]


@router.post(
    "/{agreement_id}/extension/decision",
    summary="Approve or refuse an extension (data authority)",
    responses=_WRITE_ERRORS,
)
def post_extension_decision(
    hub: Hub,
    staff: StaffBearer,
    agreement_id: str,
    body: Annotated[ExtensionDecisionBody, Body()],
) -> dict[str, Any]:
    now = datetime.now(UTC)
    decision = ExtensionDecision(body.decision == "approve", body.reason)
    with unit_of_work(hub.sessions, write=True) as session:
        agreement = decide_extension(session, staff, agreement_id, decision, now=now)
        return _views(session, [agreement], now)[0]


@router.post(
    "/{agreement_id}/delivery",
    summary="Record the delivery through an agreed channel (provider's sharing officer)",
    responses=_WRITE_ERRORS,
)
def post_delivery(
    hub: Hub, staff: StaffBearer, agreement_id: str, body: Annotated[DeliveryBody, Body()]
) -> dict[str, Any]:
    now = datetime.now(UTC)
    with unit_of_work(hub.sessions, write=True) as session:
        agreement = deliver(session, staff, agreement_id, body.channel, now=now)
        return _views(session, [agreement], now)[0]


@router.get(
    "/extension-requests",
    summary="Applications whose provider asks to extend the reply clock (data authority)",
    responses=_READ_ERRORS,
)
def get_extension_requests(hub: Hub, staff: StaffBearer) -> dict[str, Any]:
    now = datetime.now(UTC)
    with unit_of_work(hub.sessions) as session:
        agreements = extension_requests(session, staff)
        views = _views(session, agreements, now)
    return {"total": len(views), "agreements": views}


@router.get(
    "",
    summary="Agreements the caller's department is a party to (auditors: all)",
    responses=_READ_ERRORS,
)
def get_agreements(
    hub: Hub,
    staff: StaffBearer,
    status: AgreementStatus | None = None,
    role: Annotated[
        Party | None, Query(description="Only those where the caller's department is this side")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    with unit_of_work(hub.sessions) as session:
        agreements, total = list_agreements(
            session, staff, now=now, status=status, party=role, limit=limit, offset=offset
        )
        views = _views(session, agreements, now)
    return {"total": total, "limit": limit, "offset": offset, "agreements": views}


@router.get(
    "/{agreement_id}",
    summary="One agreement, with its decision and history",
    responses=_READ_ERRORS,
)
def get_agreement(hub: Hub, staff: StaffBearer, agreement_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    with unit_of_work(hub.sessions) as session:
        agreement = visible_agreement(session, staff, agreement_id)
        return _views(session, [agreement], now)[0]


def _views(
    session: Session, agreements: Sequence[Agreement], now: datetime
) -> list[dict[str, Any]]:
    """Each agreement's view with ``names``: the names in the registry of the consumer's system
    and department, and of each purpose (the name of the consumer's service item that asks for
    it), ``None`` where the registry has none. The codes stay as they are."""
    names = AccessNames(session)
    views = agreement_views(session, agreements, now=now)
    for view in views:
        department = view["consumer"]["department"]
        view["names"] = {
            "system": names.system(view["consumer"]["system"]),
            "consumer_department": dict(names.department(department)),
            "purposes": [
                {"code": purpose, **names.purpose(purpose, department, None)}
                for purpose in view["purposes"]
            ],
        }
    return views
