"""HTTP routes of correction requests (校核纠错, 异议; docs/corrections.md).

Case systems (hub access token): ``POST /corrections`` files one on an attribute they received,
``GET /corrections`` and ``GET /corrections/{id}`` read theirs, ``GET /corrections/notices`` is
their inbox of signed correction notices and ``POST /corrections/notices/{id}/ack`` empties it.
Department staff (ID token): ``POST /department/corrections`` files one for their department as a
consumer; ``GET /department/corrections`` is the queue addressed to their department as a
source, with what they filed; its admin confirms (``…/confirm``) or rejects with reasons
(``…/reject``). Citizens: ``GET /citizen/released`` (each attribute released about them, with
its source department), ``POST /citizen/corrections`` (an objection), ``GET /citizen/corrections``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from exchange.api.consent import Citizen, SubjectRef
from exchange.api.deps import BaseUrl, Hub, HubState, StaffBearer, SystemBearer
from exchange.api.problems import problem_responses
from exchange.api.text import DisplayParagraph
from exchange.corrections import notices, reading
from exchange.corrections.errors import CorrectionsClosed
from exchange.corrections.models import Correction, CorrectionNotice, FiledBy
from exchange.corrections.service import CorrectionAsk, Filer
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.notice.reading import hidden_accesses
from exchange.query.pipeline import QueryInput
from exchange.security.clientauth import SystemPrincipal
from exchange.security.identity import Principal, Role
from exchange.security.subjects import ID_TYPE, checked_resident_id
from schemas import TongbanError

__all__ = ["router"]

router = APIRouter(tags=["corrections"])

_ATTRIBUTE = r"^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,62}(\([0-9]{0,12}\))?$"
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 503)
_READ_ERRORS = problem_responses(401, 403, 404, 422)
EVIDENCE_MAX = 2000
"""The longest evidence or explanation, in characters."""

CorrectionId = Annotated[str, Path(pattern=r"^corr-[0-9a-f-]{36}$", description="corr-… id")]
NoticeId = Annotated[str, Path(pattern=r"^ntc-[0-9a-f-]{36}$", description="ntc-… id")]


class CorrectionBody(BaseModel):
    """A correction request on an attribute the filer received, citing the request."""

    model_config = ConfigDict(extra="forbid")

    subject: SubjectRef
    attribute: str = Field(pattern=_ATTRIBUTE, description="As it was received")
    request_id: str = Field(
        pattern=_UUID, description="The `request_id` of the answer it was received in"
    )
    evidence: DisplayParagraph = Field(
        min_length=2, max_length=EVIDENCE_MAX, description="Why it is wrong, and the proof"
    )


class ObjectionBody(BaseModel):
    """A citizen's objection (异议) to an attribute the hub released about them."""

    model_config = ConfigDict(extra="forbid")

    attribute: str = Field(pattern=_ATTRIBUTE)
    explanation: DisplayParagraph = Field(min_length=2, max_length=EVIDENCE_MAX)
    request_id: str | None = Field(
        default=None, pattern=_UUID, description="An access from my access list, if I pick one"
    )


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: DisplayParagraph = Field(
        min_length=2, max_length=EVIDENCE_MAX, description="The reasons (说明理由): required"
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _file(hub: HubState, filer: Filer, ask: CorrectionAsk, viewer: reading.Viewer) -> JSONResponse:
    now = _now()
    row = hub.corrections.file(filer, ask, now)
    with unit_of_work(hub.sessions) as session:
        view = reading.correction_view(session, row, now, viewer)
    return JSONResponse(view, status_code=201)


# -- case systems ------------------------------------------------------------------------------


@router.post(
    "/corrections",
    summary="File a correction request on an attribute this system received (校核纠错)",
    status_code=201,
    responses=_WRITE_ERRORS,
)
def post_correction(hub: Hub, caller: SystemBearer, body: CorrectionBody) -> JSONResponse:
    filer = Filer(FiledBy.SYSTEM, caller.system_id, caller.department)
    return _file(hub, filer, _ask(body), "filer")


def _ask(body: CorrectionBody) -> CorrectionAsk:
    subject = checked_resident_id(body.subject.id, id_type=body.subject.id_type)
    return CorrectionAsk(subject, body.attribute, body.evidence, body.request_id)


@router.get(
    "/corrections",
    summary="The correction requests this system filed, newest first",
    responses=_READ_ERRORS,
)
def my_corrections(hub: Hub, caller: SystemBearer) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions) as session:
        rows = reading.filed_by(session, FiledBy.SYSTEM, caller.system_id, caller.department)
        return {"corrections": reading.correction_views(session, rows, now, "filer")}


@router.get(
    "/corrections/notices",
    summary="This system's correction notices not yet acknowledged, each signed "
    "(typ tongban-correction+jwt) with the new release as the policy allows it now",
    responses=_READ_ERRORS,
)
def notice_inbox(hub: Hub, caller: SystemBearer, base_url: BaseUrl) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions) as session:
        waiting = notices.waiting(session, caller.system_id)
        for notice, correction in waiting:
            session.expunge(notice)
            session.expunge(correction)
    deliveries = [_deliver(hub, caller, n, c, base_url) for n, c in waiting]
    with unit_of_work(hub.sessions, write=True) as session:
        signed = [
            notices.sign_notice(
                session, hub.keys, notices.notice_payload(d, issuer=base_url, now=now)
            )
            for d in deliveries
        ]
        notices.record_delivery(session, deliveries, now)
    return {
        "notices": [
            {
                "id": d.notice.id,
                "correction": d.correction.id,
                "attribute": d.correction.attribute,
                "ask_again": d.release is None,
                "notice": jws,
            }
            for d, jws in zip(deliveries, signed, strict=True)
        ]
    }


def _deliver(
    hub: HubState,
    caller: SystemPrincipal,
    notice: CorrectionNotice,
    correction: Correction,
    base_url: str,
) -> notices.Delivery:
    """The new release, by the exchange pipeline, as a query of this system would get it now."""
    subject = hub.corrections.subject_of(correction)
    ask = QueryInput(ID_TYPE, subject, notice.purpose, [correction.attribute], None)
    try:
        answer = hub.pipeline.query(caller, ask, issuer=base_url)
    except TongbanError as exc:  # the purpose is no longer registered, …: ask again
        return notices.Delivery(notice, correction, subject, None, exc.code)
    return notices.Delivery(notice, correction, subject, answer, None)


@router.post(
    "/corrections/notices/{notice_id}/ack",
    summary="Acknowledge a correction notice: it leaves the inbox",
    responses=_WRITE_ERRORS,
)
def acknowledge_notice(hub: Hub, caller: SystemBearer, notice_id: NoticeId) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        notice = notices.acknowledge(session, caller.system_id, notice_id, now)
        return {"id": notice.id, "status": notice.status.value}


@router.get(
    "/corrections/{correction_id}",
    summary="A correction request this system filed, with its answer",
    responses=_READ_ERRORS,
)
def my_correction(hub: Hub, caller: SystemBearer, correction_id: CorrectionId) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions) as session:
        rows = reading.filed_by(session, FiledBy.SYSTEM, caller.system_id, caller.department)
        return reading.correction_view(session, reading.one_of(rows, correction_id), now, "filer")


# -- department staff --------------------------------------------------------------------------


def _staff_department(caller: Principal) -> str:
    if caller.role is not Role.DEPARTMENT_ADMIN or not caller.department:
        raise Forbidden("only a department's administrator handles correction requests")
    return caller.department


@router.post(
    "/department/corrections",
    summary="File a correction request for my department, on an attribute it received",
    tags=["department"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def department_file(hub: Hub, caller: StaffBearer, body: CorrectionBody) -> JSONResponse:
    department = _staff_department(caller)
    filer = Filer(FiledBy.STAFF, caller.subject, department)
    return _file(hub, filer, _ask(body), "filer")


@router.get(
    "/department/corrections",
    summary="The correction requests addressed to my department as a source (open first, "
    "oldest due first), and those it filed",
    tags=["department"],
    responses=_READ_ERRORS,
)
def department_queue(
    hub: Hub,
    caller: StaffBearer,
    status: Annotated[Literal["open", "all"], Query()] = "all",
) -> dict[str, Any]:
    department = _staff_department(caller)
    now = _now()
    desk = hub.corrections
    with unit_of_work(hub.sessions) as session:
        received = reading.addressed_to(session, department, open_only=status == "open")
        filed = reading.filed_by(session, FiledBy.STAFF, caller.subject, department)
        return {
            "department": department,
            "reply_working_days": desk.reply_working_days,
            "received": reading.correction_views(
                session, received, now, "provider", desk.subject_of
            ),
            "filed": reading.correction_views(session, filed, now, "filer"),
        }


@router.post(
    "/department/corrections/{correction_id}/confirm",
    summary="Confirm: the record was corrected at the source (the hub reads it again and "
    "notifies every system that received the old value)",
    tags=["department"],
    responses=_WRITE_ERRORS,
)
def confirm(hub: Hub, caller: StaffBearer, correction_id: CorrectionId) -> dict[str, Any]:
    department = _staff_department(caller)
    now = _now()
    row = hub.corrections.confirm(department, caller.subject, correction_id, now)
    return _provider_view(hub, row, now)


@router.post(
    "/department/corrections/{correction_id}/reject",
    summary="Reject, with reasons the filer and the citizen see",
    tags=["department"],
    responses=_WRITE_ERRORS,
)
def reject(
    hub: Hub, caller: StaffBearer, correction_id: CorrectionId, body: RejectBody
) -> dict[str, Any]:
    department = _staff_department(caller)
    now = _now()
    row = hub.corrections.reject(department, caller.subject, correction_id, body.reason, now)
    return _provider_view(hub, row, now)


def _provider_view(hub: HubState, row: Correction, now: datetime) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        return reading.correction_view(session, row, now, "provider", hub.corrections.subject_of)


# -- citizens ----------------------------------------------------------------------------------


@router.get(
    "/citizen/released",
    summary="Each attribute the hub released about me, with its source department (citizen)",
    tags=["citizen"],
    responses=_READ_ERRORS,
)
def released_about_me(hub: Hub, citizen: Citizen) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        return {
            "attributes": reading.released_about(
                session,
                citizen,
                hidden_accesses(session, citizen),  # deferred notice
            ),
            "objections": hub.settings.citizen_objections,
        }


@router.post(
    "/citizen/corrections",
    summary="Object (异议): an attribute released about me is wrong (citizen)",
    tags=["citizen"],
    status_code=201,
    responses=_WRITE_ERRORS,
)
def object_to(hub: Hub, citizen: Citizen, caller: StaffBearer, body: ObjectionBody) -> JSONResponse:
    if not hub.settings.citizen_objections:
        raise CorrectionsClosed("this hub takes corrections from departments only")
    del citizen  # checked: the caller is a citizen with a valid resident ID
    subject = checked_resident_id(caller.subject)
    ask = CorrectionAsk(subject, body.attribute, body.explanation, body.request_id)
    return _file(hub, Filer(FiledBy.CITIZEN, "citizen", None), ask, "citizen")


@router.get(
    "/citizen/corrections",
    summary="My objections and every correction request about me, with their answers (citizen)",
    tags=["citizen"],
    responses=_READ_ERRORS,
)
def my_objections(hub: Hub, citizen: Citizen) -> dict[str, Any]:
    now = _now()
    with unit_of_work(hub.sessions) as session:
        rows = reading.citizen_corrections(session, citizen)
        return {"corrections": reading.correction_views(session, rows, now, "citizen")}
