"""HTTP routes of the batch channel (批量交换) for case systems: register an encryption key,
ask for an extract of an agreement's fields for the people named, read its signed manifest,
download its encrypted chunks one by one (a chunk cursor: resume at the first one missing).

A chunk answers HTTP range requests (RFC 9110 §14), so a download cut off inside a chunk
resumes where it stopped: ``Accept-Ranges: bytes``; a strong ``ETag``, the chunk's SHA-256 as
in the manifest; ``Range: bytes=first-last`` (or ``first-``, or ``-suffix``) answers ``206``
with ``Content-Range``; a range wholly outside the chunk answers ``416``
(``batch_range_not_satisfiable``) with ``Content-Range: bytes */length``; ``If-Range`` with
another ETag (or a date) gets the whole chunk, ``200``. A header that is not one byte range
(several ranges, another unit, bad syntax) is ignored, as RFC 9110 allows: the whole chunk.
The first chunk served under an agreement stops its delivery clock.

Every route needs a system access token (``POST /oauth/token``); another system's extract is
not found. See :mod:`exchange.batch.service` for the order of checks and docs/lifecycle.md
("Batch channel") for decrypting and verifying with standard tools.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from exchange.api.deps import BaseUrl, Hub, SystemBearer
from exchange.api.problems import problem_response, problem_responses
from exchange.batch.errors import BatchRangeNotSatisfiable
from exchange.batch.models import BatchExtract
from exchange.batch.service import BatchDesk, BatchLimits, ExtractAsk
from exchange.hub import Hub as HubState
from exchange.security.subjects import ID_TYPE, checked_resident_id

router = APIRouter(prefix="/batch", tags=["batch"])

_ERRORS = problem_responses(400, 401, 403, 404, 409, 410, 413, 422)
_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _desk(hub: HubState) -> BatchDesk:
    settings = hub.settings
    limits = BatchLimits(
        ttl=timedelta(hours=settings.batch_extract_ttl_h),
        max_subjects=settings.batch_max_subjects,
        chunk_subjects=settings.batch_chunk_subjects,
    )
    gm = settings.crypto_profile == "gm"
    return BatchDesk(hub.sessions, hub.pipeline, hub.keys, limits, gm=gm)


class EncryptionKey(BaseModel):
    """A public encryption JWK: EC P-256 (x, y) or OKP X25519 (x), with its kid."""

    model_config = ConfigDict(extra="forbid")

    kty: str = Field(max_length=8)
    crv: str = Field(max_length=16)
    x: str = Field(max_length=64)
    y: str | None = Field(default=None, max_length=64)
    kid: str = Field(min_length=1, max_length=128)
    use: str | None = Field(default=None, max_length=8)
    alg: str | None = Field(default=None, max_length=32)


class Subject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_type: str = Field(max_length=16, json_schema_extra={"enum": ["CN-RIC"]})
    id: str = Field(max_length=32)


class ExtractBody(BaseModel):
    """The agreement, its purpose, the people (or a division, which is refused), the key."""

    model_config = ConfigDict(extra="forbid")

    agreement: str = Field(pattern=r"^AG-[A-Z0-9][A-Z0-9-]{2,40}$")
    purpose: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    subjects: list[Subject] = Field(default_factory=list, max_length=100_000)
    division: str | None = Field(default=None, pattern=r"^[1-9][0-9]{1,11}$")
    key: str = Field(min_length=1, max_length=128, description="The kid of a registered key")
    officer: str | None = Field(default=None, pattern=_CODE)


@router.post(
    "/keys", summary="Register a public key for batch extracts", status_code=201, responses=_ERRORS
)
def post_key(hub: Hub, caller: SystemBearer, key: Annotated[EncryptionKey, Body()]) -> JSONResponse:
    registered = _desk(hub).register_key(
        caller, key.model_dump(exclude_none=True), now=datetime.now(UTC)
    )
    body = {
        "kid": registered.kid,
        "jwk": registered.jwk,
        "registered_at": _iso(registered.registered_at),
    }
    return JSONResponse(body, status_code=201)


@router.post(
    "/extracts",
    summary="Make an extract of an agreement's fields for the people named",
    status_code=201,
    responses=_ERRORS,
)
def post_extract(
    hub: Hub, caller: SystemBearer, base_url: BaseUrl, body: Annotated[ExtractBody, Body()]
) -> JSONResponse:
    for i, subject in enumerate(body.subjects):
        if subject.id_type != ID_TYPE:
            checked_resident_id(subject.id, id_type=subject.id_type, pointer=f"/subjects/{i}")
    ask = ExtractAsk(
        agreement=body.agreement,
        purpose=body.purpose,
        subjects=[s.id for s in body.subjects],
        division=body.division,
        key=body.key,
        officer=body.officer,
    )
    extract = _desk(hub).make_extract(caller, ask, issuer=base_url, now=datetime.now(UTC))
    return JSONResponse(_view(extract, base_url), status_code=201)


@router.get("/extracts/{extract_id}", summary="An extract's signed manifest", responses=_ERRORS)
def get_extract(
    hub: Hub, caller: SystemBearer, base_url: BaseUrl, extract_id: str
) -> dict[str, Any]:
    return _view(_desk(hub).extract(caller, extract_id, now=datetime.now(UTC)), base_url)


_CHUNK_ANSWERS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    **problem_responses(416),
    200: {"content": {"application/jose": {}}, "description": "The whole chunk"},
    206: {"content": {"application/jose": {}}, "description": "The byte range asked for"},
}


@router.get(
    "/extracts/{extract_id}/chunks/{seq}",
    summary="One encrypted chunk of an extract (compact JWE); byte ranges resume it",
    responses=_CHUNK_ANSWERS,
)
def get_chunk(
    request: Request,
    hub: Hub,
    caller: SystemBearer,
    extract_id: str,
    seq: Annotated[int, Path(ge=0, le=1_000_000)],
    range_: Annotated[str | None, Header(alias="Range", max_length=200)] = None,
    if_range: Annotated[str | None, Header(alias="If-Range", max_length=200)] = None,
) -> Response:
    now = datetime.now(UTC)
    desk = _desk(hub)
    body = desk.chunk(caller, extract_id, seq, now=now).encode("ascii")
    etag = '"' + base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode() + '"'
    headers = {"Accept-Ranges": "bytes", "ETag": etag}
    wanted = byte_range(range_, len(body)) if range_ and if_range in (None, etag) else None
    if wanted == "unsatisfiable":
        refused = BatchRangeNotSatisfiable(
            f"chunk {seq} of extract {extract_id} has {len(body)} bytes; {range_} lies outside"
        )
        return problem_response(
            request, refused.problem(), {**headers, "Content-Range": f"bytes */{len(body)}"}
        )
    desk.downloaded(caller, extract_id, now=now)
    if wanted is None:
        return Response(body, media_type="application/jose", headers=headers)
    first, last = wanted
    headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
    return Response(
        body[first : last + 1], status_code=206, media_type="application/jose", headers=headers
    )


_RANGE = re.compile(r"^bytes=(?:([0-9]{1,15})-([0-9]{0,15})|-([0-9]{1,15}))$")


def byte_range(header: str, length: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """The one byte range of a ``Range`` header over *length* bytes, as (first, last),
    inclusive; ``"unsatisfiable"`` for a range wholly outside; ``None`` to ignore the header
    (several ranges, another unit, bad syntax, or a last before its first: RFC 9110 §14.1.1
    makes that invalid, and an invalid range is ignored)."""
    found = _RANGE.match(header.strip())
    if found is None:
        return None
    first, last, suffix = found.groups()
    if suffix is not None:
        if int(suffix) == 0 or length == 0:
            return "unsatisfiable"
        return max(length - int(suffix), 0), length - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= length:
        return "unsatisfiable"
    return start, min(int(last) if last else length - 1, length - 1)


def _view(extract: BatchExtract, base_url: str) -> dict[str, Any]:
    payload = extract.manifest.split(".")[1]
    manifest = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    chunks = manifest["extract"]["chunks"]
    link = f"{base_url.rstrip('/')}/batch/extracts/{extract.id}/chunks"
    return {
        "id": extract.id,
        "agreement": extract.agreement_id,
        "subjects": extract.subjects,
        "expires_at": _iso(extract.expires_at),
        "manifest": extract.manifest,
        "chunks": [{**chunk, "url": f"{link}/{chunk['seq']}"} for chunk in chunks],
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
