"""The development identity provider (``dev`` mode only; never mounted in ``prod``).

A sign-in that wants its token bound to it sends a ``nonce`` (the console always does); the
token carries it back in its ``nonce`` claim (OpenID Connect Core §3.1.2.1).

A citizen's ``sub`` written as a resident ID (18 characters, 17 digits and a check character)
must be a valid one (GB 11643, :func:`~exchange.security.subjects.checked_resident_id`): a
mistyped check digit is refused here, with a pointer to ``/sub``, instead of signing in someone
who then meets only refusals. Other citizen subjects stay possible (tests sign in non-residents
to see the hub refuse them)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body

from exchange.api.deps import Hub
from exchange.api.problems import problem_responses
from exchange.errors import MalformedRequest
from exchange.security.errors import InvalidSubjectId
from exchange.security.identity import DEV_IDP_ISSUER, Role
from exchange.security.subjects import checked_resident_id
from schemas import ProblemDetail

router = APIRouter(prefix="/dev/idp", tags=["development identity provider"])

_RESIDENT_ID_SHAPE = re.compile(r"^[0-9]{17}[0-9Xx]$")


def _checked_citizen(sub: str) -> str:
    """``sub``, or :class:`MalformedRequest` if it is written as a resident ID but is not one."""
    if not _RESIDENT_ID_SHAPE.fullmatch(sub):
        return sub
    try:
        return checked_resident_id(sub)
    except InvalidSubjectId as exc:
        raise MalformedRequest(
            "the citizen's resident ID is not valid",
            errors=[ProblemDetail(pointer="/sub", detail=str(exc))],
        ) from None


@router.post(
    "/token",
    summary="Issue a citizen or staff ID token (development only)",
    responses=problem_responses(400, 413, 422),
    description="A citizen's `sub` written as a resident ID must be a valid one (422, "
    "pointer `/sub`).",
)
def issue_token(
    hub: Hub,
    sub: Annotated[str, Body(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    role: Annotated[Role, Body()],
    department: Annotated[str | None, Body(pattern=r"^[A-Z][A-Z0-9]{1,15}$")] = None,
    nonce: Annotated[
        str | None,
        Body(
            min_length=16,
            max_length=128,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="The sign-in's nonce, put into the token's `nonce` claim",
        ),
    ] = None,
) -> dict[str, str]:
    departmental = role in (Role.DEPARTMENT_ADMIN, Role.SHARING_OFFICER, Role.DEPARTMENT_HEAD)
    if departmental and department is None:
        raise MalformedRequest(
            "a department admin token names its department",
            errors=[ProblemDetail(pointer="/department", detail="required for department_admin")],
        )
    if role is Role.CITIZEN:
        sub = _checked_citizen(sub)
    token = hub.identity.issue_dev_token(
        sub, role, department if departmental or role is Role.DATA_AUTHORITY else None, nonce=nonce
    )
    return {"id_token": token, "token_type": "Bearer", "issuer": DEV_IDP_ISSUER}


@router.get("/jwks.json", summary="The development IdP's public keys")
def jwks(hub: Hub) -> dict[str, Any]:
    return {"keys": [hub.identity.dev_public_jwk]}
