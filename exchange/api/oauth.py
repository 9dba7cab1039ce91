"""The token endpoint (``private_key_jwt``, RFC 7523), its metadata (RFC 8414) and the hub's
published keys (JWKS).

The token request is ``application/x-www-form-urlencoded``; it is parsed here with the standard
library (no multipart dependency for one form). Each parameter may appear once (RFC 6749 3.2).
Its refusals are problems that also carry RFC 6749 5.2 ``error`` and ``error_description``
(:mod:`exchange.api.problems`), so a standard OAuth client reads them as errors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from exchange.api.deps import BaseUrl, Hub, HubState
from exchange.api.problems import PROBLEM_JSON, PROBLEM_SCHEMA, TOKEN_ENDPOINT, problem_responses
from exchange.db import unit_of_work
from exchange.errors import UnsupportedMediaType
from exchange.security.clientauth import (
    CLIENT_ASSERTION_TYPE,
    GRANT_TYPE,
    AccessToken,
    client_algorithms_of,
    grant_client_credentials,
    token_endpoint_url,
)
from exchange.security.errors import InvalidRequest

router = APIRouter(tags=["authentication"])

FORM = "application/x-www-form-urlencoded"
_MAX_FIELDS = 16
_TOKEN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            FORM: {
                "schema": {
                    "type": "object",
                    "required": ["grant_type", "client_assertion_type", "client_assertion"],
                    "properties": {
                        "grant_type": {"type": "string", "const": "client_credentials"},
                        "client_assertion_type": {"type": "string", "const": CLIENT_ASSERTION_TYPE},
                        "client_assertion": {
                            "type": "string",
                            "description": "A JWT signed by the system's registered key: "
                            "iss = sub = system id, aud = this endpoint's URL or the "
                            "issuer, a fresh jti, usable 5 minutes from iat (without iat, "
                            "exp at most 5 minutes ahead).",
                        },
                        "client_id": {"type": "string"},
                    },
                }
            }
        },
    }
}


_OAUTH_PROBLEM: dict[str, Any] = {
    **PROBLEM_SCHEMA,
    "required": [*PROBLEM_SCHEMA["required"], "error"],
    "properties": {
        **PROBLEM_SCHEMA["properties"],
        "error": {
            "type": "string",
            "description": "RFC 6749 5.2: invalid_request, invalid_client, "
            "unsupported_grant_type, ...",
        },
        "error_description": {"type": "string"},
    },
}


def _token_problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    responses = problem_responses(*statuses)
    for response in responses.values():
        response["content"] = {PROBLEM_JSON: {"schema": _OAUTH_PROBLEM}}
    return responses


@router.post(
    TOKEN_ENDPOINT,
    summary="Get an access token with a signed client assertion (private_key_jwt)",
    openapi_extra=_TOKEN_BODY,
    responses=_token_problems(400, 401, 413, 415),
)
async def token(request: Request, hub: Hub, base_url: BaseUrl) -> JSONResponse:
    form = _form(request.headers.get("content-type", ""), await request.body())
    issued = await run_in_threadpool(_grant, hub, form, base_url)
    return JSONResponse(
        issued.as_response(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )


def _grant(hub: HubState, form: dict[str, str], base_url: str) -> AccessToken:
    # One unit: the assertion's jti is committed when the block ends, before the token leaves.
    with unit_of_work(hub.sessions, write=True) as session:
        return grant_client_credentials(
            session, hub.keys, form, base_url=base_url, now=datetime.now(UTC)
        )


def _form(content_type: str, body: bytes) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() != FORM:
        raise UnsupportedMediaType(f"send the token request as {FORM}")
    try:
        text = body.decode("utf-8")
        fields = parse_qs(
            text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=_MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the form body is not valid x-www-form-urlencoded UTF-8") from None
    if any(len(values) > 1 for values in fields.values()):
        raise InvalidRequest("each token request parameter may appear only once")
    return {name: values[0] for name, values in fields.items()}


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 authorization server metadata: the token endpoint and how to authenticate."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    response_types_supported: list[str]


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Authorization server metadata (RFC 8414)",
    response_model=AuthorizationServerMetadata,
)
def metadata(hub: Hub, base_url: BaseUrl) -> JSONResponse:
    issuer = base_url.rstrip("/")
    document = AuthorizationServerMetadata(
        issuer=issuer,
        token_endpoint=token_endpoint_url(issuer),
        jwks_uri=f"{issuer}/.well-known/jwks.json",
        grant_types_supported=[GRANT_TYPE],
        token_endpoint_auth_methods_supported=["private_key_jwt"],
        # the crypto profile's: a gm hub takes SM2SM3 assertions only (docs/gm.md)
        token_endpoint_auth_signing_alg_values_supported=sorted(
            client_algorithms_of(hub.settings.crypto_profile)
        ),
        response_types_supported=[],  # no authorization endpoint: client credentials only
    )
    return JSONResponse(document.model_dump(), headers={"Cache-Control": "public, max-age=300"})


@router.get("/.well-known/jwks.json", summary="The hub's public signing keys (JWKS)")
def jwks(hub: Hub) -> JSONResponse:
    # Only the very first request may have to create the key; later ones just read.
    with unit_of_work(hub.sessions, write=not hub.keys.initialised) as session:
        document = hub.keys.jwks(session)
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})
