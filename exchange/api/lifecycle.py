"""HTTP routes of the sharing lifecycle (docs/lifecycle.md): catalogue entries reviewed by the
data authority, update duties, supply-demand requests (供需对接).

Every route needs a staff ID token. Departments (``department_admin``, ``department_head``) see
and act on their own department's submissions, duties and requests; the data authority
(``data_authority``) sees all of them and reviews, opens duties, decides extensions and routes
requests — never for its own department. Anyone else is refused (deny by default).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from catalogue.data_items import designated_sources
from catalogue.descriptors import parse_descriptor
from catalogue.errors import ConcurrentUpdate
from catalogue.vocabulary import DescriptorKind, SharingMethod
from exchange.api.deps import Hub, StaffBearer
from exchange.api.problems import problem_responses
from exchange.api.text import DisplayParagraph, DisplayText
from exchange.db import unit_of_work
from exchange.errors import Forbidden, UnsupportedMediaType
from exchange.lifecycle import demands, duties, reading, review
from exchange.lifecycle.audit import Actor
from exchange.lifecycle.clocks import Clocks
from exchange.lifecycle.errors import AssessmentNotFound
from exchange.lifecycle.models import AssessmentKind, CatalogueAssessment
from exchange.security.identity import Principal, Role

__all__ = ["actor_of", "router"]

router = APIRouter(tags=["lifecycle"])

_STAFF = (Role.DEPARTMENT_ADMIN, Role.DEPARTMENT_HEAD, Role.DATA_AUTHORITY)
_READ = problem_responses(401, 403, 404, 422)
_WRITE = problem_responses(400, 401, 403, 404, 409, 413, 415, 422)
_ID = r"^{}-[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$"
SubmissionId = Annotated[str, Path(pattern=_ID.format("sub"), description="sub-… id")]
DutyId = Annotated[str, Path(pattern=_ID.format("dut"), description="dut-… id")]
DemandId = Annotated[str, Path(pattern=_ID.format("dmd"), description="dmd-… id")]
ResourceCode = Annotated[str, Path(pattern=r"^[A-Z0-9][A-Z0-9-]{1,62}[A-Z0-9]$")]
Reasons = Annotated[DisplayParagraph | None, Field(default=None, min_length=2, max_length=2000)]


def actor_of(staff: Principal) -> Actor:
    """The staff member as the lifecycle's actor; other roles are refused here."""
    if staff.role not in _STAFF:
        raise Forbidden("the lifecycle is for department staff and the data authority")
    return Actor(staff.subject, staff.role.value, staff.department)


def _now() -> datetime:
    return datetime.now(UTC)


def _clocks(hub: Any) -> Clocks:
    return Clocks.from_settings(hub.settings)


# -- submissions ---------------------------------------------------------------------------


@router.post(
    "/catalogue/submissions",
    summary="Draft a catalogue entry for review (provider department admin)",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A resource descriptor, as JSON or YAML.",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
    responses=_WRITE,
)
async def post_submission(request: Request, hub: Hub, staff: StaffBearer) -> JSONResponse:
    actor = actor_of(staff)
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if not any(t in media_type for t in ("json", "yaml")):
        raise UnsupportedMediaType("send the descriptor as application/json or application/yaml")
    descriptor = parse_descriptor(
        await request.body(), media_type=media_type, expected=DescriptorKind.RESOURCE
    )
    view = await run_in_threadpool(draft_view, hub, actor, descriptor)
    return JSONResponse(view, status_code=201, headers={"Location": _location(view)})


def draft_view(hub: Any, actor: Actor, descriptor: Any) -> dict[str, Any]:
    """Draft *descriptor* as *actor* in its own unit of work; the draft's view."""
    now = _now()
    try:
        with unit_of_work(hub.sessions, write=True) as session:
            row = review.draft_submission(session, actor, descriptor, now)
            return reading.submission_view(session, row, now, steps=True)
    except IntegrityError:
        raise ConcurrentUpdate("another submission of the entry committed first") from None


def _location(view: dict[str, Any]) -> str:
    return f"/catalogue/submissions/{view['id']}"


@router.get(
    "/catalogue/submissions", summary="Submissions with their review clocks", responses=_READ
)
def get_submissions(
    hub: Hub,
    staff: StaffBearer,
    status: Literal["draft", "submitted", "published", "returned", "withdrawn"] | None = None,
    overdue: bool = False,
) -> dict[str, Any]:
    actor = actor_of(staff)
    with unit_of_work(hub.sessions) as session:
        rows = reading.submissions(session, actor, _now(), status=status, overdue=overdue)
    return {"submissions": rows}


@router.get("/catalogue/submissions/{submission_id}", summary="One submission", responses=_READ)
def get_submission(hub: Hub, staff: StaffBearer, submission_id: SubmissionId) -> dict[str, Any]:
    actor = actor_of(staff)
    with unit_of_work(hub.sessions) as session:
        row = review.visible_submission(session, actor, submission_id)
        return reading.submission_view(session, row, _now(), steps=True)


@router.put(
    "/catalogue/submissions/{submission_id}/assessments/{kind}",
    summary="Attach an assessment (secrecy 保密风险 / pia 个人信息保护影响) to a draft",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The document, PDF, OFD or DOCX, sent with its own media type, or as "
            "application/octet-stream with a file name ending .pdf, .ofd or .docx.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses=_WRITE,
)
async def put_assessment(
    request: Request,
    hub: Hub,
    staff: StaffBearer,
    submission_id: SubmissionId,
    kind: AssessmentKind,
    filename: Annotated[DisplayText, Query(min_length=1, max_length=200, pattern=r"^[^/\\]+$")],
) -> dict[str, Any]:
    actor = actor_of(staff)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data = await request.body()

    def work() -> dict[str, Any]:
        now = _now()
        with unit_of_work(hub.sessions, write=True) as session:
            review.attach_assessment(
                session,
                actor,
                submission_id,
                kind,
                filename=filename,
                media_type=media_type,
                data=data,
                now=now,
            )
            row = review.visible_submission(session, actor, submission_id)
            return reading.submission_view(session, row, now, steps=True)

    return await run_in_threadpool(work)


@router.get(
    "/catalogue/submissions/{submission_id}/assessments/{kind}",
    summary="Read an attached assessment document",
    responses={200: {"content": {t: {} for t in review.ASSESSMENT_TYPES}}, **_READ},
)
def get_assessment(
    hub: Hub, staff: StaffBearer, submission_id: SubmissionId, kind: AssessmentKind
) -> Response:
    actor = actor_of(staff)
    with unit_of_work(hub.sessions) as session:
        row = review.visible_submission(session, actor, submission_id)
        document = next(
            (d for d in review.assessments_of(session, row.id) if d.kind == kind.value), None
        )
        if document is None:
            raise AssessmentNotFound(f"submission {row.id} has no {kind.value} assessment")
        return _document(document)


def _document(document: CatalogueAssessment) -> Response:
    return Response(
        document.content,
        media_type=document.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{kind_name(document)}"',
            "X-Content-SHA256": document.sha256,
        },
    )


def kind_name(document: CatalogueAssessment) -> str:
    """An ASCII download name (the stored name may be Chinese; it stays in the JSON view)."""
    suffix = {"application/pdf": "pdf", "application/ofd": "ofd"}.get(document.media_type, "docx")
    return f"{document.kind}-assessment.{suffix}"


@router.post(
    "/catalogue/submissions/{submission_id}/sign-off",
    summary="Sign off a draft with its assessments (department head)",
    responses=_WRITE,
)
def post_sign_off(hub: Hub, staff: StaffBearer, submission_id: SubmissionId) -> dict[str, Any]:
    actor = actor_of(staff)
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        row = review.sign_off(session, actor, submission_id, now)
        return reading.submission_view(session, row, now, steps=True)


@router.post(
    "/catalogue/submissions/{submission_id}/submit",
    summary="Submit a signed-off draft for review (department admin)",
    responses=_WRITE,
)
def post_submit(hub: Hub, staff: StaffBearer, submission_id: SubmissionId) -> dict[str, Any]:
    actor = actor_of(staff)
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        row = review.submit(session, actor, submission_id, now, _clocks(hub))
        return reading.submission_view(session, row, now, steps=True)


@router.post(
    "/catalogue/submissions/{submission_id}/withdraw",
    summary="Withdraw a draft or an undecided submission (department admin)",
    responses=_WRITE,
)
def post_withdraw(hub: Hub, staff: StaffBearer, submission_id: SubmissionId) -> dict[str, Any]:
    actor = actor_of(staff)
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        row = review.withdraw(session, actor, submission_id, now)
        return reading.submission_view(session, row, now, steps=True)


class ReviewBody(BaseModel):
    """The data authority's decision on a submitted entry."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["publish", "return"]
    reasons: Reasons = None


@router.post(
    "/catalogue/submissions/{submission_id}/review",
    summary="Publish a submitted entry or return it with reasons (data authority)",
    responses=_WRITE,
)
def post_review(
    hub: Hub, staff: StaffBearer, submission_id: SubmissionId, body: ReviewBody
) -> dict[str, Any]:
    actor = actor_of(staff)
    now = _now()
    try:
        with unit_of_work(hub.sessions, write=True) as session:
            row = review.review_submission(
                session,
                actor,
                submission_id,
                publish_it=body.decision == "publish",
                reasons=body.reasons,
                now=now,
            )
            return reading.submission_view(session, row, now, steps=True)
    except IntegrityError:
        raise ConcurrentUpdate("another publication of the entry committed first") from None


# -- update duties -------------------------------------------------------------------------


class DutyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: DisplayParagraph = Field(min_length=2, max_length=2000)


class ExtensionDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    reasons: Reasons = None


@router.get("/catalogue/update-duties", summary="Update duties with their clocks", responses=_READ)
def get_duties(
    hub: Hub,
    staff: StaffBearer,
    status: Literal["open", "fulfilled"] | None = None,
    overdue: bool = False,
) -> dict[str, Any]:
    actor = actor_of(staff)
    with unit_of_work(hub.sessions) as session:
        return {"duties": reading.duties(session, actor, _now(), status=status, overdue=overdue)}


@router.post(
    "/catalogue/resources/{code}/update-duties",
    summary="Open a duty to update an entry (data authority, or the provider's admin)",
    status_code=201,
    responses=_WRITE,
)
def post_duty(hub: Hub, staff: StaffBearer, code: ResourceCode, body: DutyBody) -> dict[str, Any]:
    actor = actor_of(staff)
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        duty = duties.open_duty(session, actor, code, body.reason, now, _clocks(hub))
        return reading.duty_view(session, duty, now, steps=True)


@router.get("/catalogue/update-duties/{duty_id}", summary="One update duty", responses=_READ)
def get_duty(hub: Hub, staff: StaffBearer, duty_id: DutyId) -> dict[str, Any]:
    actor = actor_of(staff)
    with unit_of_work(hub.sessions) as session:
        duty = duties.visible_duty(session, actor, duty_id)
        return reading.duty_view(session, duty, _now(), steps=True)


@router.post(
    "/catalogue/update-duties/{duty_id}/extension",
    summary="Ask once for the extension of an update duty (provider admin)",
    responses=_WRITE,
)
def post_extension(hub: Hub, staff: StaffBearer, duty_id: DutyId, body: DutyBody) -> dict[str, Any]:
    actor = actor_of(staff)
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        duty = duties.ask_extension(session, actor, duty_id, body.reason, now)
        return reading.duty_view(session, duty, now, steps=True)


@router.post(
    "/catalogue/update-duties/{duty_id}/extension/decision",
    summary="Approve or refuse the extension (data authority)",
    responses=_WRITE,
)
def post_extension_decision(
    hub: Hub, staff: StaffBearer, duty_id: DutyId, body: ExtensionDecision
) -> dict[str, Any]:
    actor = actor_of(staff)
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        duty = duties.decide_extension(
            session,
            actor,
            duty_id,
            approve=body.approve,
            reasons=body.reasons,
            now=now,
            clocks=_clocks(hub),
        )
        return reading.duty_view(session, duty, now, steps=True)


@router.get(
    "/catalogue/data-items",
    summary="Each data element and its designated source department (一数一源)",
)
def get_data_items(hub: Hub) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        claims = designated_sources(session)
    return {
        "data_items": [
            {"data_element": e, "source": c.source, "resource": c.resource, "field": c.field}
            for e, c in sorted(claims.items())
        ]
    }


# -- supply and demand ---------------------------------------------------------------------


class DemandBody(BaseModel):
    """A request for data that is in no catalogue (供需对接): every element is required."""

    model_config = ConfigDict(extra="forbid")

    title: DisplayText = Field(min_length=2, max_length=200)
    wanted: DisplayParagraph = Field(min_length=2, max_length=2000, description="The data items")
    basis: DisplayParagraph = Field(min_length=2, max_length=1000, description="使用依据")
    scenario: DisplayParagraph = Field(min_length=2, max_length=1000, description="使用场景")
    scope: DisplayParagraph = Field(min_length=2, max_length=1000, description="使用范围")
    method: SharingMethod = Field(description="共享方式")
    term_until: date = Field(description="使用时限: the last day of use")


class RouteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,15}$")
    note: Reasons = None


class ReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["connect", "refuse"]
    resource: str | None = Field(default=None, pattern=r"^[A-Z0-9][A-Z0-9-]{1,62}[A-Z0-9]$")
    reasons: Reasons = None


@router.post(
    "/demands",
    summary="Request data that is in no catalogue (department admin)",
    status_code=201,
    responses=_WRITE,
)
def post_demand(hub: Hub, staff: StaffBearer, body: DemandBody) -> dict[str, Any]:
    actor = actor_of(staff)
    now = _now()
    ask = demands.DemandAsk(
        body.title,
        body.wanted,
        body.basis,
        body.scenario,
        body.scope,
        body.method,
        body.term_until,
    )
    with unit_of_work(hub.sessions, write=True) as session:
        demand = demands.file_demand(session, actor, ask, now, _clocks(hub))
        return reading.demand_view(session, demand, now, steps=True)


@router.get("/demands", summary="Supply-demand requests with their clocks", responses=_READ)
def get_demands(
    hub: Hub,
    staff: StaffBearer,
    status: Literal["filed", "routed", "connected", "refused"] | None = None,
    overdue: bool = False,
) -> dict[str, Any]:
    actor = actor_of(staff)
    with unit_of_work(hub.sessions) as session:
        rows = reading.demands(session, actor, _now(), status=status, overdue=overdue)
    return {"demands": rows}


@router.get("/demands/{demand_id}", summary="One request, with every step", responses=_READ)
def get_demand(hub: Hub, staff: StaffBearer, demand_id: DemandId) -> dict[str, Any]:
    actor = actor_of(staff)
    with unit_of_work(hub.sessions) as session:
        demand = demands.visible_demand(session, actor, demand_id)
        return reading.demand_view(session, demand, _now(), steps=True)


@router.post(
    "/demands/{demand_id}/route",
    summary="Route a request to a provider department (data authority)",
    responses=_WRITE,
)
def post_route(
    hub: Hub, staff: StaffBearer, demand_id: DemandId, body: RouteBody
) -> dict[str, Any]:
    actor = actor_of(staff)
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        demand = demands.route_demand(
            session, actor, demand_id, body.provider, body.note, now, _clocks(hub)
        )
        return reading.demand_view(session, demand, now, steps=True)


@router.post(
    "/demands/{demand_id}/reply",
    summary="Connect a request to a published entry, or refuse it with reasons (provider)",
    responses=_WRITE,
)
def post_reply(
    hub: Hub, staff: StaffBearer, demand_id: DemandId, body: ReplyBody
) -> dict[str, Any]:
    actor = actor_of(staff)
    now = _now()
    with unit_of_work(hub.sessions, write=True) as session:
        demand = demands.reply_demand(
            session,
            actor,
            demand_id,
            connect=body.decision == "connect",
            resource=body.resource,
            reasons=body.reasons,
            now=now,
        )
        return reading.demand_view(session, demand, now, steps=True)
