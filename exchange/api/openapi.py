"""How the OpenAPI document says who may call: security schemes and per-operation requirements.

FastAPI writes the document from the routes, but the hub's bearer dependencies
(:data:`exchange.api.deps.SystemBearer`, :data:`~exchange.api.deps.StaffBearer`) read the
``Authorization`` header themselves, so the document would not say that an operation needs a
token, nor which kind. This adds both, so a generated client or a fuzzer knows:

- ``systemAccessToken``: an OAuth 2.0 client credentials flow at ``POST /oauth/token`` (client
  authentication ``private_key_jwt``), whose access token a case system presents as a bearer;
- ``idToken``: an HTTP bearer JWT, a staff member's or citizen's ID token from a trusted
  identity provider.

An operation whose dependencies include one of them requires that scheme; one that accepts
either kind of token (the inclusion proof) lists both as alternatives; one that answers anyone
and tells staff more (readiness) lists the ID token and ``{}``, no credentials. Operations with
none of them stay open, as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, get_args

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from starlette.routing import BaseRoute

from exchange.api.audit import AnyBearer
from exchange.api.deps import ExchangeCaller, OptionalStaff, StaffBearer, SystemBearer
from exchange.api.problems import TOKEN_ENDPOINT

__all__ = ["SECURITY_SCHEMES", "install_openapi"]

SYSTEM_SCHEME = "systemAccessToken"
STAFF_SCHEME = "idToken"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    SYSTEM_SCHEME: {
        "type": "oauth2",
        "description": "A case system's hub access token (RFC 9068), from the client "
        "credentials grant with private_key_jwt client authentication (RFC 7523); "
        "sent as `Authorization: Bearer`.",
        "flows": {"clientCredentials": {"tokenUrl": TOKEN_ENDPOINT, "scopes": {}}},
    },
    STAFF_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A staff member's or citizen's ID token from a trusted identity "
        "provider (in dev mode, POST /dev/idp/token).",
    },
}


def _dependency(alias: object) -> Callable[..., Any]:
    """The function behind an ``Annotated[..., Depends(f)]`` alias."""
    call: Callable[..., Any] = get_args(alias)[1].dependency
    return call


# Each bearer dependency and the security requirements (alternatives) it stands for.
_REQUIREMENTS: dict[Callable[..., Any], list[dict[str, list[str]]]] = {
    _dependency(SystemBearer): [{SYSTEM_SCHEME: []}],
    _dependency(ExchangeCaller): [{SYSTEM_SCHEME: []}],
    _dependency(StaffBearer): [{STAFF_SCHEME: []}],
    _dependency(AnyBearer): [{STAFF_SCHEME: []}, {SYSTEM_SCHEME: []}],
    _dependency(OptionalStaff): [{STAFF_SCHEME: []}, {}],
}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) carry the security schemes and, on each
    operation, the schemes it requires."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            add_security(document, app.routes)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_security(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Add the schemes to ``document`` and each operation's requirement (in place)."""
    document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    paths = document.get("paths", {})
    for path, methods, dependant in _operations(routes):
        requirement = _requirement(dependant)
        for method in methods if requirement else ():
            operation = paths.get(path, {}).get(method.lower())
            if operation is not None:
                operation["security"] = requirement


def _operations(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, set[str], Dependant]]:
    """Each documented route's path, methods and dependencies. FastAPI from 0.16x keeps
    included routers nested and walks them with ``iter_route_contexts``; earlier ones list
    every route flat."""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    for route in walk(routes) if walk is not None else routes:
        dependant = getattr(route, "dependant", None)
        path, methods = getattr(route, "path_format", None), getattr(route, "methods", None)
        if (
            isinstance(dependant, Dependant)
            and isinstance(path, str)
            and methods
            and getattr(route, "include_in_schema", False)
        ):
            yield path, set(methods), dependant


def _requirement(dependant: Dependant) -> list[dict[str, list[str]]]:
    found: list[dict[str, list[str]]] = []
    for call in _calls(dependant):
        for alternative in _REQUIREMENTS.get(call, []):
            if alternative not in found:
                found.append(alternative)
    return found


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)
