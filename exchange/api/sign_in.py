"""Sign-in at the organisation's OpenID provider: what the console needs to start it, and the
code exchange that finishes it (authorization code flow with PKCE; ADR 0007, docs/sign-in.md).

- ``GET /sign-in/provider``: the provider's issuer, authorisation endpoint, the console's client
  id, scopes and redirect URI (``<TONGBAN_PUBLIC_URL>/console``); 404 when no provider is
  configured, 503 when its discovery document cannot be fetched.
- ``POST /sign-in/token``: the code the provider handed back, the sign-in's ``code_verifier``
  and ``nonce``; the hub redeems the code at the provider's token endpoint, verifies the ID token
  as it verifies any bearer token (issuer, audience, signature from the provider's JWKS) and
  that it carries the nonce, and answers it. Every refusal is a 401 problem naming its cause.

The hub keeps nothing of a sign-in: state, nonce and verifier live in the browser that started
it, which checks the state before it calls here and the nonce again after.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from catalogue.errors import NotFound
from exchange.api.deps import Hub
from exchange.api.problems import problem_responses
from exchange.errors import Unauthenticated
from exchange.security.openid import OpenIdProvider

router = APIRouter(prefix="/sign-in", tags=["sign-in"])

_URLSAFE = r"^[A-Za-z0-9_-]+$"


def _provider(hub: Hub) -> OpenIdProvider:
    provider = hub.identity.provider
    if provider is None:
        raise NotFound(
            "no OpenID provider is configured (TONGBAN_IDP_ISSUER, TONGBAN_IDP_CLIENT_ID)"
        )
    return provider


def _redirect_uri(hub: Hub) -> str:
    return f"{hub.settings.public_url}/console"


@router.get(
    "/provider",
    summary="The OpenID provider the console signs in at",
    responses=problem_responses(404, 503),
)
def provider(hub: Hub) -> dict[str, str]:
    found = _provider(hub)
    document = found.discovery()
    return {
        "issuer": found.issuer,
        "authorization_endpoint": str(document["authorization_endpoint"]),
        "client_id": found.client_id,
        "scope": hub.settings.idp_scope,
        "redirect_uri": _redirect_uri(hub),
    }


@router.post(
    "/token",
    summary="Redeem the provider's authorization code for the console's ID token",
    responses=problem_responses(401, 404, 422, 503),
)
def token(
    hub: Hub,
    code: Annotated[str, Body(min_length=1, max_length=2048, pattern=r"^[\x21-\x7e]+$")],
    code_verifier: Annotated[
        str, Body(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")
    ],
    nonce: Annotated[str, Body(min_length=16, max_length=128, pattern=_URLSAFE)],
) -> dict[str, str]:
    found = _provider(hub)
    id_token = found.redeem(code, code_verifier, _redirect_uri(hub))
    principal = hub.identity.verify(id_token, nonce=nonce)
    if principal.issuer != found.issuer:
        raise Unauthenticated("the token endpoint answered a token of another issuer")
    return {"id_token": id_token, "token_type": "Bearer"}
