"""HTTP routes that read the audit log: auditors search, read and export it; a citizen sees
every access to their own data; proofs for whoever may check an entry (CONTRACT.md).

Who may read what (separation of duties, GB/T 39477):

- ``/audit/entries``, ``/audit/entries/{index}``, ``/audit/export``: auditors (审计员) only.
  Operators and department admins run the hub and decide sharing; they may not read the audit.
- ``/citizen/accesses``: a citizen, about themself only.
- ``/audit/proof/inclusion``: an auditor, the entry's own case system (its hub access token),
  or the entry's citizen (their ID token).
- ``/audit/proof/consistency``: anyone; it reveals nothing but hashes.

An auditor looks a citizen up by the ID number (GB 11643); it is validated, turned into the
keyed pseudonym the entries hold, and never written back in an answer or an error.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

import jwt
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from exchange.agreements.reading import agreement_ref
from exchange.api.datetimes import DateTime
from exchange.api.deps import BaseUrl, Hub, HubState, StaffBearer
from exchange.api.problems import problem_responses
from exchange.audit import proofs, reading
from exchange.audit.checkpoints import sign_if_stale
from exchange.audit.completeness import Completeness, completeness
from exchange.audit.models import AuditRecord
from exchange.audit.reading import AuditFilter
from exchange.db import unit_of_work
from exchange.errors import Forbidden, MalformedRequest, Unauthenticated
from exchange.notice.reading import deferred_marks, hidden_accesses
from exchange.security.clientauth import ACCESS_TOKEN_TYP, SystemPrincipal, verify_access_token
from exchange.security.errors import InvalidSubjectId
from exchange.security.identity import Principal, Role
from schemas import ProblemDetail

router = APIRouter(tags=["audit"])

_DEPT = r"^[A-Z][A-Z0-9]{1,15}$"
_SYSTEM = r"^[a-z][a-z0-9-]{2,63}$"
_PURPOSE = r"^[a-z0-9][a-z0-9-]{0,63}$"
_MAX_INDEX = 2**53 - 1  # I-JSON's exact integers; far beyond any log
Outcome = Literal["released", "partial", "denied", "unavailable", "withheld", "budget_exhausted"]
Kind = Literal["query", "verify"]
Index = Annotated[int, Query(ge=0, le=_MAX_INDEX)]
Cursor = Annotated[
    int | None,
    Query(ge=0, le=_MAX_INDEX, description="The last index of the previous page"),
]


# -- answers -------------------------------------------------------------------------------


class EntryNames(BaseModel):
    """The registry's names of an entry's codes (``None`` where the registry has none)."""

    system: str | None
    purpose: dict[str, str | None] = Field(description="{name, name_en}, of the service item")


class EntrySummary(BaseModel):
    index: int
    request_id: str
    recorded_at: str
    kind: str
    system: str
    department: str
    subject: str = Field(description="The subject's keyed pseudonym (never the ID number)")
    purpose: str
    outcome: str
    attributes: dict[str, str] = Field(description="Each attribute asked for, and its outcome")
    names: EntryNames


class EntryPage(BaseModel):
    entries: list[EntrySummary]
    next_cursor: int | None


class EntryDetail(BaseModel):
    index: int
    request_id: str
    recorded_at: str
    leaf_hash: str = Field(description="SHA-256(0x00 ‖ canonical), base64")
    entry: dict[str, Any]
    canonical: str = Field(description="The entry's RFC 8785 canonical JSON, as stored")
    names: EntryNames


class InclusionProof(BaseModel):
    index: int
    size: int
    leaf_hash: str
    proof: list[str] = Field(description="RFC 9162 audit path, leaf end first, base64")


class ConsistencyProof(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from")
    to: int
    proof: list[str] = Field(description="RFC 9162 consistency proof, base64")


class TreeHead(BaseModel):
    size: int
    root: str = Field(description="RFC 9162 root hash of the first `size` entries, base64")


class AccessField(BaseModel):
    outcome: str
    release: str | None
    reason: str | None
    agreement: str | None
    consent: str | None
    legal_basis: str | None
    basis: str | None = Field(
        default=None,
        description="The kind of legal basis: statutory_duty 法定职责, consent 同意, other 其他 "
        "(docs/notice.md); null when nothing was allowed",
    )
    title: str | None = Field(default=None, description="The field's title in the catalogue")
    resource_name: str | None = Field(default=None, description="Its resource's name")


class AgreementTitle(BaseModel):
    id: str
    title: str | None = Field(description="The agreement document's title, when it has one")
    resource_name: str | None = Field(description="The name of the resource it shares")
    provider: str | None = Field(description="The providing department's name")


class DeferredMark(BaseModel):
    reason_kind: str = Field(description="Why its notice was deferred (docs/notice.md)")
    legal_basis: str = Field(description="The law that made secrecy lawful")
    deferred_at: str | None = Field(description="When the deferral took effect (UTC)")
    shown_since: str | None = Field(description="When the deferral ended (UTC)")
    ended_by: str | None = Field(description="`date` or `event`")


class Access(BaseModel):
    index: int
    at: str
    kind: str
    system: str
    department: str
    officer: str | None
    purpose: str
    service_item: str | None
    legal_bases: list[str]
    basis_kinds: list[str] = Field(
        default_factory=list, description="The kinds of legal basis of its fields (docs/notice.md)"
    )
    deferred: DeferredMark | None = Field(
        default=None, description="Present when the access's notice to me was deferred"
    )
    agreements: list[str]
    consents: list[str]
    fields: dict[str, AccessField]
    outcome: str
    entry: str = Field(description="The canonical entry; its leaf hash is the proof's leaf_hash")
    proof: InclusionProof
    system_name: str | None = Field(default=None, description="The system's registered name")
    department_name: str | None = None
    department_name_en: str | None = None
    purpose_name: str | None = Field(
        default=None, description="The name of the service item the purpose serves"
    )
    purpose_name_en: str | None = None
    agreement_titles: list[AgreementTitle] = Field(
        default_factory=list, description="Each agreement of `agreements`, in the same order"
    )
    relay: dict[str, Any] | None = Field(
        default=None,
        description="A query another hub relayed (docs/federation.md): that hub and its caller",
    )
    relayed: list[dict[str, Any]] | None = Field(
        default=None, description="The other hubs the data came from (docs/federation.md)"
    )


class SubjectEntryView(BaseModel):
    index: int
    leaf_hash: str = Field(description="The entry's RFC 9162 leaf hash, base64")
    kind: str
    entry: str | None = Field(
        description="The canonical text of an entry that is not an access (a consent's "
        "lifecycle event); null for an access, whose text is in `accesses`"
    )


class CompletenessView(BaseModel):
    checkpoint: str = Field(
        description="The signed checkpoint note (its witnesses' cosignatures included) whose "
        "'tongban/vmap/v1' line commits to the subject map the proof is against"
    )
    tree_size: int
    witnessed: bool = Field(description="Whether it meets the hub's witness policy (check it)")
    subject: str = Field(description="The citizen's pseudonym: the map key is derived from it")
    map_root: str = Field(description="The subject map's root at tree_size, base64")
    map_proof: str = Field(description="The encoded subject map proof (docs/audit.md), base64")
    entries: list[SubjectEntryView] = Field(
        description="Every entry about the citizen below tree_size, in log order, of every kind"
    )


class Accesses(BaseModel):
    head: TreeHead
    accesses: list[Access]
    next_cursor: int | None
    completeness: CompletenessView | None = Field(
        description="The proof that the list is complete up to a signed checkpoint; null "
        "until a checkpoint commits to the subject map"
    )


# -- who is asking -------------------------------------------------------------------------


def _caller(request: Request, hub: Hub, base_url: BaseUrl) -> Principal | SystemPrincipal:
    """A hub access token (``typ`` ``at+jwt``) names a case system; any other bearer token is
    verified as a staff or citizen ID token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("a Bearer ID token or hub access token is required", missing=True)
    try:
        typ = jwt.get_unverified_header(token).get("typ")
    except jwt.PyJWTError:
        raise Unauthenticated("the token is malformed") from None
    if isinstance(typ, str) and typ.lower() in {
        ACCESS_TOKEN_TYP,
        f"application/{ACCESS_TOKEN_TYP}",
    }:
        with unit_of_work(hub.sessions) as session:
            return verify_access_token(session, hub.keys, token, issuer=base_url)
    return hub.identity.verify(token)


AnyBearer = Annotated[Principal | SystemPrincipal, Depends(_caller)]


def _require_auditor(staff: Principal) -> None:
    if staff.role is not Role.AUDITOR:
        raise Forbidden("only an auditor may read the audit log")


def _subject_pseudonym(hub: HubState, id_number: str) -> str:
    """The pseudonym entries hold for a resident ID number; the number is never echoed."""
    return hub.pseudonyms.of(id_number, pointer="/subject")


def _citizen_pseudonym(hub: HubState, caller: Principal) -> str | None:
    """The pseudonym of a citizen token's subject, or None when it names no resident."""
    if caller.role is not Role.CITIZEN:
        return None
    try:
        return _subject_pseudonym(hub, caller.subject)
    except InvalidSubjectId:
        return None


# -- auditors ------------------------------------------------------------------------------


def _filter(
    hub: Hub,
    subject: Annotated[
        str | None,
        Query(
            max_length=32,
            description="A citizen's resident ID number (GB 11643)",
            json_schema_extra={"pattern": r"^[0-9]{17}[0-9Xx]$"},
        ),
    ] = None,
    system: Annotated[str | None, Query(pattern=_SYSTEM)] = None,
    department: Annotated[str | None, Query(pattern=_DEPT)] = None,
    purpose: Annotated[str | None, Query(pattern=_PURPOSE)] = None,
    outcome: Outcome | None = None,
    kind: Kind | None = None,
    since: Annotated[
        DateTime | None,
        Query(alias="from", description="RFC 3339 with an offset; recorded at or after"),
    ] = None,
    until: Annotated[
        DateTime | None,
        Query(alias="to", description="RFC 3339 with an offset; recorded before"),
    ] = None,
) -> AuditFilter:
    return AuditFilter(
        subject=_subject_pseudonym(hub, subject) if subject is not None else None,
        system=system,
        department=department,
        purpose=purpose,
        outcome=outcome,
        kind=kind,
        since=_instant(since, "from"),
        until=_instant(until, "to"),
    )


def _instant(value: datetime | None, name: str) -> datetime | None:
    """A time filter as an aware instant: a time without an offset is ambiguous (Beijing or
    UTC?), so it is refused rather than guessed."""
    if value is None:
        return None
    problem = None
    if value.tzinfo is None or value.utcoffset() is None:
        problem = "give the time with its offset (Z or +08:00)"
    else:
        try:
            value.timestamp()
        except (OverflowError, ValueError):
            problem = "the time is out of range"
    if problem is not None:
        raise MalformedRequest(
            f"{name}: {problem}", errors=[ProblemDetail(pointer=f"/{name}", detail=problem)]
        )
    return value


Filter = Annotated[AuditFilter, Depends(_filter)]
_AUDITOR_ERRORS = problem_responses(401, 403, 422)


@router.get(
    "/audit/entries",
    summary="Search the audit log, newest first (auditor)",
    response_model=EntryPage,
    responses=_AUDITOR_ERRORS,
)
def search_entries(
    hub: Hub,
    staff: StaffBearer,
    where: Filter,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    _require_auditor(staff)
    with unit_of_work(hub.sessions) as session:
        page = reading.search_entries(session, where, limit=limit, before=cursor)
        names = reading.AccessNames(session)
        entries = [reading.entry_summary(r, names) for r in page.records]
    return {"entries": entries, "next_cursor": page.next_cursor}


@router.get(
    "/audit/entries/{index}",
    summary="One audit entry, whole, with its canonical text and leaf hash (auditor)",
    response_model=EntryDetail,
    responses=problem_responses(401, 403, 404, 422),
)
def get_entry(
    hub: Hub, staff: StaffBearer, index: Annotated[int, Path(ge=0, le=_MAX_INDEX)]
) -> dict[str, Any]:
    _require_auditor(staff)
    with unit_of_work(hub.sessions) as session:
        record = reading.get_entry(session, index)
        return reading.entry_detail(record, reading.AccessNames(session))


_EXPORT_TYPES = {"jsonl": "application/jsonl", "csv": "text/csv; charset=utf-8"}


@router.get(
    "/audit/export",
    summary="Export matching entries, oldest first, as JSON Lines or CSV (auditor)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every matching entry up to the log's size when the export began",
            "content": {"application/jsonl": {}, "text/csv": {}},
        },
        **_AUDITOR_ERRORS,
    },
)
def export_entries(
    hub: Hub,
    staff: StaffBearer,
    where: Filter,
    fmt: Annotated[Literal["jsonl", "csv"], Query(alias="format")] = "jsonl",
) -> StreamingResponse:
    _require_auditor(staff)
    size, pages = reading.export_pages(hub.sessions, where)

    def body() -> Iterator[str]:
        if fmt == "csv":
            yield reading.csv_header()
        for records in pages:
            yield reading.csv_rows(records) if fmt == "csv" else reading.jsonl_lines(records)

    filename = f"tongban-audit-{size}.{fmt}"
    return StreamingResponse(
        body(),
        media_type=_EXPORT_TYPES[fmt],
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "tongban-audit-size": str(size),
        },
    )


# -- citizens ------------------------------------------------------------------------------


@router.get(
    "/citizen/accesses",
    summary="Every access to my data, each with its inclusion proof, and the proof that the "
    "list is complete (citizen)",
    tags=["citizen"],
    response_model=Accesses,
    responses=problem_responses(401, 403, 422),
)
def citizen_accesses(
    hub: Hub,
    citizen: StaffBearer,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    if citizen.role is not Role.CITIZEN:
        raise Forbidden("only a citizen may read their own accesses")
    subject = _citizen_pseudonym(hub, citizen)
    if subject is None:
        raise Forbidden("the token does not name a resident by a valid resident ID")
    sign_if_stale(hub.checkpoints, hub.sessions)  # as GET /audit/checkpoint: a recent one
    with unit_of_work(hub.sessions) as session:
        hidden = hidden_accesses(session, subject)  # deferred notice (docs/notice.md)
        at_most = min(hidden) if hidden else None  # proven complete below the first one
        complete = completeness(session, hub.witnessing, subject, at_most=at_most)
        head = proofs.head(session)
        page = reading.citizen_accesses(
            session, subject, size=head.size, limit=limit, before=cursor, hidden=hidden
        )
        marks = deferred_marks(session, subject, [r.index for r in page.records])
        names = reading.AccessNames(session, partial(agreement_ref, session))
        accesses = [
            reading.access_view(
                r, proofs.inclusion_proof(session, r.index, head.size), head.size, names
            )
            for r in page.records
        ]
    for access in accesses:
        access["deferred"] = marks.get(access["index"])
    return {
        "head": {"size": head.size, "root": _b64(head.root)},
        "accesses": accesses,
        "next_cursor": page.next_cursor,
        "completeness": None if complete is None else _completeness_view(complete),
    }


def _completeness_view(complete: Completeness) -> dict[str, Any]:
    return {
        "checkpoint": complete.note,
        "tree_size": complete.size,
        "witnessed": complete.witnessed,
        "subject": complete.subject,
        "map_root": _b64(complete.map_root),
        "map_proof": _b64(complete.proof),
        "entries": [
            {"index": e.index, "leaf_hash": _b64(e.leaf_hash), "kind": e.kind, "entry": e.text}
            for e in complete.entries
        ],
    }


# -- proofs --------------------------------------------------------------------------------


@router.get(
    "/audit/proof/inclusion",
    summary="Inclusion proof of an entry (auditor, its system, its citizen)",
    response_model=InclusionProof,
    responses=problem_responses(401, 403, 404, 422),
)
def inclusion_proof(hub: Hub, caller: AnyBearer, index: Index, size: Index) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        record = reading.get_entry(session, index)
        if not _may_prove(hub, caller, record):
            raise Forbidden("only an auditor, the entry's system or its citizen may ask")
        proof = proofs.inclusion_proof(session, index, size)
    return reading.inclusion_view(index, size, record.leaf_hash, proof)


def _may_prove(hub: HubState, caller: Principal | SystemPrincipal, record: AuditRecord) -> bool:
    if isinstance(caller, SystemPrincipal):
        return caller.system_id == record.system_id
    if caller.role is Role.AUDITOR:
        return True
    subject = _citizen_pseudonym(hub, caller)
    if subject != record.subject or subject is None:
        return False
    with unit_of_work(hub.sessions) as session:  # a deferred access is not theirs to see yet
        return record.index not in hidden_accesses(session, subject)


@router.get(
    "/audit/proof/consistency",
    summary="Consistency proof between two tree sizes (anyone)",
    response_model=ConsistencyProof,
    responses=problem_responses(422),
)
def consistency_proof(
    hub: Hub,
    old: Annotated[int, Query(alias="from", ge=0, le=_MAX_INDEX)],
    new: Annotated[int, Query(alias="to", ge=0, le=_MAX_INDEX)],
) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        proof = proofs.consistency_proof(session, old, new)
    return {"from": old, "to": new, "proof": [_b64(p) for p in proof]}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
