"""HTTP routes of citizen consent (CONTRACT.md): case systems ask, citizens decide.

Systems (hub access token): ``POST /consent-requests`` and ``GET /consent-requests/{id}`` for
their own requests. Citizens (an ID token whose subject is their resident ID number):
``/citizen/consent-requests`` and ``/citizen/consents``. A citizen only ever sees and acts on
their own requests and consents: anyone else's is a 404, exactly like an id that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from exchange.api.datetimes import DateTime
from exchange.api.deps import BaseUrl, Hub, HubState, StaffBearer, SystemBearer
from exchange.api.problems import problem_responses
from exchange.api.text import DisplayParagraph, DisplayText
from exchange.consent import reading, service
from exchange.consent.models import ConsentMode
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.notice.reading import without_deferred_uses
from exchange.query.resolve import resolve_query
from exchange.security.errors import InvalidSubjectId
from exchange.security.identity import Role
from exchange.security.subjects import ID_TYPE

__all__ = ["router"]

router = APIRouter(tags=["consent"])

_PURPOSE = r"^[a-z0-9][a-z0-9-]{0,63}$"
_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ATTRIBUTE = r"^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,62}(\([0-9]{0,12}\))?$"
_ID = r"^c[rn]-[0-9a-f-]{36}$"
Attribute = Annotated[str, Field(pattern=_ATTRIBUTE)]
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422)
_READ_ERRORS = problem_responses(401, 403, 404, 422)


class SubjectRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The enum and pattern describe what the hub checks itself, so that a refusal keeps its
    # code (invalid_subject_id); the GB 11643 check digit cannot be said in JSON Schema.
    id_type: str = Field(
        max_length=16,
        description="`CN-RIC`: GB 11643 resident ID number",
        json_schema_extra={"enum": ["CN-RIC"]},
    )
    id: str = Field(max_length=32, json_schema_extra={"pattern": r"^[0-9]{17}[0-9Xx]$"})


class ConsentRequestBody(BaseModel):
    """What a case system asks the citizen to consent to."""

    model_config = ConfigDict(extra="forbid")

    subject: SubjectRef
    purpose: str = Field(pattern=_PURPOSE, description="A purpose the system registered")
    purpose_text: DisplayText = Field(
        min_length=2,
        max_length=500,
        description="Why, in words the citizen understands (one line: no control or bidi "
        "characters)",
    )
    service_item: str | None = Field(default=None, pattern=_CODE)
    attributes: list[Attribute] | None = Field(default=None, max_length=100)
    optional: list[Attribute] = Field(
        default_factory=list,
        max_length=100,
        description="Attributes the citizen may leave out (others are necessary; a service "
        "item's entries marked `required: false` are optional too)",
    )
    mode: ConsentMode = ConsentMode.ONE_TIME
    valid_days: int = Field(default=30, ge=1, le=1825, description="Validity once given")
    max_uses: int | None = Field(default=None, ge=1, le=100_000, description="standing only")
    retention_days: int = Field(ge=0, le=3650, description="How long the system keeps the data")
    answer_within_days: int = Field(default=7, ge=1, le=90)
    officer: str | None = Field(default=None, pattern=_CODE)

    @model_validator(mode="after")
    def _coherent(self) -> ConsentRequestBody:
        if not self.service_item and not self.attributes:
            raise ValueError("name a service_item or attributes (or both)")
        if self.mode is ConsentMode.ONE_TIME and self.max_uses not in (None, 1):
            raise ValueError("a one_time consent is used once; max_uses is for standing ones")
        return self


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[Attribute] | None = Field(
        default=None,
        max_length=100,
        description="The fields kept (every necessary one, and the optional ones wanted); "
        "all of them when absent",
    )


class RefuseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: DisplayParagraph | None = Field(default=None, max_length=500)


class ChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[Attribute] | None = Field(default=None, max_length=100)
    expires_at: DateTime | None = None

    @model_validator(mode="after")
    def _something(self) -> ChangeBody:
        if self.fields is None and self.expires_at is None:
            raise ValueError("change fields, expires_at or both")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs a time zone")
        return self


RequestId = Annotated[str, Path(pattern=_ID, description="cr-… or cn-… id")]


def _now() -> datetime:
    return datetime.now(UTC)


def _subject_of(hub: HubState, id_type: str, number: str) -> str:
    return hub.pseudonyms.of(number, id_type=id_type)


def _citizen(hub: Hub, caller: StaffBearer) -> str:
    """The pseudonym of the signed-in citizen; staff tokens are refused."""
    if caller.role is not Role.CITIZEN:
        raise Forbidden("only the citizen concerned may see or answer consent requests")
    try:
        return _subject_of(hub, ID_TYPE, caller.subject)
    except InvalidSubjectId:
        raise Forbidden("the token does not name a resident by a valid resident ID") from None


Citizen = Annotated[str, Depends(_citizen)]


# -- case systems ----------------------------------------------------------------------------


@router.post(
    "/consent-requests",
    summary="Ask a citizen for consent; the answer carries the URL where the citizen decides",
    status_code=201,
    responses=_WRITE_ERRORS,
)
def post_consent_request(
    hub: Hub, caller: SystemBearer, base_url: BaseUrl, body: ConsentRequestBody
) -> JSONResponse:
    now = _now()
    ask = service.ConsentAsk(
        subject=_subject_of(hub, body.subject.id_type, body.subject.id),
        system=caller.system_id,
        department=caller.department,
        system_purposes=frozenset(caller.purposes),
        purpose=body.purpose,
        purpose_text=body.purpose_text,
        attributes=body.attributes,
        service_item=body.service_item,
        optional=frozenset(body.optional),
        mode=body.mode,
        valid_days=body.valid_days,
        retention_days=body.retention_days,
        max_uses=body.max_uses,
        answer_within_days=body.answer_within_days,
        officer=body.officer,
    )
    with unit_of_work(hub.sessions, write=True) as session:
        service.require_purpose(ask)
        resolved = resolve_query(
            session,
            attributes=ask.attributes,
            service_item=ask.service_item,
            department=ask.department,
        )
        row = service.create_request(session, ask, resolved.requests, now)
        view = reading.request_view(session, row, now, base_url)
    return JSONResponse(view, status_code=201, headers={"location": view["approval_url"]})


@router.get(
    "/consent-requests/{request_id}",
    summary="A consent request this system made, with its answer",
    responses=_READ_ERRORS,
)
def get_consent_request(
    hub: Hub, caller: SystemBearer, base_url: BaseUrl, request_id: RequestId
) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions) as session:
        row = reading.system_request(session, system=caller.system_id, request_id=request_id)
        return reading.request_view(session, row, now, base_url)


# -- citizens --------------------------------------------------------------------------------


@router.get(
    "/citizen/consent-requests",
    summary="My consent requests, each with the preview of what it would share (citizen)",
    tags=["citizen"],
    responses=_READ_ERRORS,
)
def my_requests(
    hub: Hub,
    citizen: Citizen,
    base_url: BaseUrl,
    status: Annotated[Literal["pending", "all"], Query()] = "pending",
) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions) as session:
        rows = reading.citizen_requests(
            session, subject=citizen, pending_only=status == "pending", now=now
        )
        return {"requests": [reading.request_view(session, r, now, base_url) for r in rows]}


@router.get(
    "/citizen/consent-requests/{request_id}",
    summary="One of my consent requests (citizen)",
    tags=["citizen"],
    responses=_READ_ERRORS,
)
def my_request(
    hub: Hub, citizen: Citizen, base_url: BaseUrl, request_id: RequestId
) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions) as session:
        row = reading.citizen_request(session, subject=citizen, request_id=request_id)
        return reading.request_view(session, row, now, base_url)


@router.post(
    "/citizen/consent-requests/{request_id}/approve",
    summary="Approve a request, optionally leaving out optional fields (citizen)",
    tags=["citizen"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def approve_request(
    hub: Hub,
    citizen: Citizen,
    base_url: BaseUrl,
    request_id: RequestId,
    body: Annotated[ApproveBody | None, Body()] = None,
) -> JSONResponse:
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        consent = service.approve(
            session,
            hub.keys,
            subject=citizen,
            request_id=request_id,
            keep=body.fields if body else None,
            now=now,
            issuer=base_url,
        )
        view = reading.consent_view(session, consent, now)
    return JSONResponse({"consent": view}, status_code=201)


@router.post(
    "/citizen/consent-requests/{request_id}/refuse",
    summary="Refuse a request (citizen)",
    tags=["citizen"],
    responses=_WRITE_ERRORS,
)
def refuse_request(
    hub: Hub,
    citizen: Citizen,
    base_url: BaseUrl,
    request_id: RequestId,
    body: Annotated[RefuseBody | None, Body()] = None,
) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        row = service.refuse(
            session,
            subject=citizen,
            request_id=request_id,
            reason=body.reason if body else None,
            now=now,
        )
        return reading.request_view(session, row, now, base_url)


@router.get(
    "/citizen/consents",
    summary="My consents, newest first, with their history and signed receipts (citizen)",
    tags=["citizen"],
    responses=_READ_ERRORS,
)
def my_consents(hub: Hub, citizen: Citizen) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions) as session:
        rows = reading.citizen_consents(session, subject=citizen)
        views = reading.consent_views(session, rows, now)
        return {"consents": without_deferred_uses(session, citizen, views, now)}  # docs/notice.md


@router.get(
    "/citizen/consents/{consent_id}",
    summary="One of my consents (citizen)",
    tags=["citizen"],
    responses=_READ_ERRORS,
)
def my_consent(hub: Hub, citizen: Citizen, consent_id: RequestId) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions) as session:
        row = reading.citizen_consent(session, subject=citizen, consent_id=consent_id)
        view = reading.consent_view(session, row, now)
        return without_deferred_uses(session, citizen, [view], now)[0]  # docs/notice.md


@router.delete(
    "/citizen/consents/{consent_id}",
    summary="Withdraw a consent, at once (citizen)",
    tags=["citizen"],
    responses=_WRITE_ERRORS,
)
def revoke_consent(hub: Hub, citizen: Citizen, consent_id: RequestId) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        row = service.revoke(session, subject=citizen, consent_id=consent_id, now=now)
        return reading.consent_view(session, row, now)


@router.patch(
    "/citizen/consents/{consent_id}",
    summary="Narrow a consent: a new version supersedes it (citizen)",
    tags=["citizen"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def change_consent(
    hub: Hub, citizen: Citizen, base_url: BaseUrl, consent_id: RequestId, body: ChangeBody
) -> JSONResponse:
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        row = service.supersede(
            session,
            hub.keys,
            subject=citizen,
            consent_id=consent_id,
            keep=body.fields,
            expires_at=body.expires_at,
            now=now,
            issuer=base_url,
        )
        view = reading.consent_view(session, row, now)
    return JSONResponse({"consent": view}, status_code=201)
