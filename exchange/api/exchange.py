"""``POST /exchange/query`` and ``POST /exchange/verify`` (CONTRACT.md), for case systems.

A request refused by a budget (:mod:`exchange.query.budget`) is answered 429 problem+json
(``verify_budget_exhausted`` / ``predicate_budget_exhausted``) with ``Retry-After``: the
seconds until the window frees an answer (RFC 9110 §10.2.3).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
    model_validator,
)

from exchange.api.deps import BaseUrl, ExchangeCaller
from exchange.api.problems import problem_response, problem_responses
from exchange.query.errors import BudgetExhausted
from exchange.query.pipeline import ExchangePipeline, QueryInput, VerifyInput

router = APIRouter(prefix="/exchange", tags=["exchange"])

_PURPOSE = r"^[a-z0-9][a-z0-9-]{0,63}$"
_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ATTRIBUTE = r"^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,62}(\([0-9]{0,12}\))?$"


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


class _Ask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: SubjectRef
    purpose: str = Field(pattern=_PURPOSE, description="A purpose the system registered")
    service_item: str | None = Field(default=None, pattern=_CODE)
    officer: str | None = Field(default=None, pattern=_CODE, description="Officer handling it")
    consent_id: str | None = Field(default=None, pattern=_CODE)


_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class OnBehalfOf(BaseModel):
    """The original caller of a query a peer hub relays (docs/federation.md)."""

    model_config = ConfigDict(extra="forbid")

    hub: str = Field(max_length=500, description="The relaying hub's public URL")
    system: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    department: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,15}$")
    officer: str | None = Field(default=None, pattern=_CODE)
    request_id: str = Field(pattern=_UUID, description="The relaying hub's request id")
    release: (
        dict[
            Annotated[str, Field(pattern=_ATTRIBUTE)],
            Literal["clear", "mask_id", "mask_name", "hash", "year", "derived"],
        ]
        | None
    ) = Field(
        default=None,
        max_length=100,
        description="Per attribute asked, the most revealing form the relaying hub's caller may "
        "get there: this hub releases no more than that (docs/federation.md)",
    )

    def held(self) -> dict[str, Any]:
        """As the pipeline, the audit entry and the evidence carry it (``release`` only when
        the relaying hub sent it)."""
        return self.model_dump(exclude={"release"} if self.release is None else set())


class QueryBody(_Ask):
    attributes: list[Annotated[str, Field(pattern=_ATTRIBUTE)]] | None = Field(
        default=None, max_length=100
    )
    all_or_nothing: bool = False
    on_behalf_of: OnBehalfOf | None = Field(
        default=None,
        description="Only from a registered peer hub relaying its caller's query: who that "
        "caller is (else 403 `not_a_peer_hub`)",
    )

    @model_validator(mode="after")
    def _something_asked(self) -> QueryBody:
        if not self.service_item and not self.attributes:
            raise ValueError("name a service_item or attributes (or both)")
        return self


class VerifyBody(_Ask):
    claims: dict[
        Annotated[str, Field(pattern=_ATTRIBUTE)],
        Annotated[str, Field(max_length=500)] | int | float | bool | list[str] | None,
    ] = Field(min_length=1, max_length=100, description="Claimed value of each attribute")


class Source(BaseModel):
    department: str
    resource: str
    version: int
    as_of: str | None
    hub: str | None = Field(
        default=None, description="Only for an attribute relayed from another hub: its URL"
    )

    @model_serializer(mode="wrap")
    def _without_absent_hub(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        shown: dict[str, Any] = handler(self)
        if shown.get("hub") is None:
            shown.pop("hub", None)
        return shown


class DisputedMark(BaseModel):
    correction: str = Field(description="The open correction request (docs/corrections.md)")
    since: str = Field(description="When it was filed (RFC 3339, UTC)")


class ReleasedAttribute(BaseModel):
    value: Any
    release: str
    source: Source
    disputed: DisputedMark | None = Field(
        default=None,
        description="异议标注: present only while a correction request on this attribute of this "
        "person is open",
    )

    @model_serializer(mode="wrap")
    def _without_absent_mark(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        shown: dict[str, Any] = handler(self)
        if shown.get("disputed") is None:
            shown.pop("disputed", None)
        return shown


class AuditReceipt(BaseModel):
    """The request's audit entry and the hub's signed checkpoint of a tree holding it (the
    evidence signs the same object; docs/audit.md says how to verify it)."""

    index: int = Field(description="The entry's leaf index in the log, from 0")
    leaf_hash: str = Field(description="Base64 of SHA-256(0x00 ‖ entry bytes)")
    tree_size: int = Field(description="The size of the tree the entry's batch committed")
    checkpoint: str = Field(
        description="The hub's checkpoint of that tree: C2SP tlog-checkpoint in a signed note, "
        "verifiable with GET /audit/checkpoint/key"
    )
    inclusion_proof: list[str] = Field(
        description="RFC 9162 inclusion proof of leaf_hash at index in that tree, base64 hashes"
    )


class QueryResponse(BaseModel):
    request_id: str
    attributes: dict[str, ReleasedAttribute]
    denied: dict[str, str]
    unavailable: dict[str, str]
    unverifiable: dict[str, str] = Field(
        default_factory=dict,
        description="Why each consent or agreement the hub could not rely on (forged, edited, "
        "or not in force according to its latest event in the audit log) released nothing, by "
        "its id",
    )
    audit: AuditReceipt
    evidence: str | None


class VerifyResponse(BaseModel):
    request_id: str
    results: dict[str, str]
    denied: dict[str, str] = Field(
        default_factory=dict, description="Why each `denied` claim was not compared"
    )
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Why each `unavailable` claim could not be compared"
    )
    disputed: dict[str, DisputedMark] = Field(
        default_factory=dict,
        description="异议标注: each compared claim whose field is under an open correction "
        "request for this person (docs/corrections.md); the evidence signs the same",
    )
    unverifiable: dict[str, str] = Field(
        default_factory=dict,
        description="Why each consent or agreement the hub could not rely on released nothing, "
        "by its id",
    )
    audit: AuditReceipt
    evidence: str | None


_QUERY_ANSWER = TypeAdapter(QueryResponse)
_VERIFY_ANSWER = TypeAdapter(VerifyResponse)


def _answer(model: TypeAdapter[Any], answer: dict[str, Any]) -> Response:
    """The answer validated against its response model and serialized here, on the endpoint's
    thread: what FastAPI does with ``response_model`` (only the model's fields leave, each of its
    type), which for a sync endpoint costs a further trip to the thread pool and back."""
    return Response(model.dump_json(model.validate_python(answer)), media_type="application/json")


async def _pipeline(request: Request) -> ExchangePipeline:  # no thread needed: see deps
    pipeline: ExchangePipeline = request.app.state.hub.pipeline
    return pipeline


Pipeline = Annotated[ExchangePipeline, Depends(_pipeline)]
_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 502, 503)


def _budget_refused(request: Request, refused: BudgetExhausted) -> Response:
    """The 429 of a spent budget, with ``Retry-After`` (the audit entry is already written)."""
    return problem_response(request, refused.problem(), {"Retry-After": str(refused.retry_after)})


@router.post(
    "/query",
    summary="Verified attributes of a citizen, decided field by field",
    response_model=QueryResponse,
    responses=_ERRORS,
)
def query(
    request: Request, body: QueryBody, caller: ExchangeCaller, pipeline: Pipeline, base_url: BaseUrl
) -> dict[str, Any] | Response:
    ask = QueryInput(
        id_type=body.subject.id_type,
        subject=body.subject.id,
        purpose=body.purpose,
        attributes=body.attributes,
        service_item=body.service_item,
        officer=body.officer,
        consent_id=body.consent_id,
        all_or_nothing=body.all_or_nothing,
        on_behalf_of=body.on_behalf_of.held() if body.on_behalf_of else None,
    )
    try:
        return _answer(_QUERY_ANSWER, pipeline.query(caller, ask, issuer=base_url))
    except BudgetExhausted as refused:
        return _budget_refused(request, refused)


@router.post(
    "/verify",
    summary="Check claimed values against the source (交互核验): match / no_match / …",
    response_model=VerifyResponse,
    responses=_ERRORS,
)
def verify(
    request: Request,
    body: VerifyBody,
    caller: ExchangeCaller,
    pipeline: Pipeline,
    base_url: BaseUrl,
) -> dict[str, Any] | Response:
    ask = VerifyInput(
        id_type=body.subject.id_type,
        subject=body.subject.id,
        purpose=body.purpose,
        claims=body.claims,
        service_item=body.service_item,
        officer=body.officer,
        consent_id=body.consent_id,
    )
    try:
        return _answer(_VERIFY_ANSWER, pipeline.verify(caller, ask, issuer=base_url))
    except BudgetExhausted as refused:
        return _budget_refused(request, refused)
