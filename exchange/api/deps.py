"""Dependencies shared by the routes, as ``Annotated`` aliases so routes stay declarative."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from exchange.db import unit_of_work
from exchange.errors import Unauthenticated
from exchange.hub import Hub as HubState
from exchange.security.clientauth import (
    RememberedCaller,
    SystemPrincipal,
    remembered_caller,
    verify_access_token,
)
from exchange.security.identity import Principal

__all__ = [
    "BaseUrl",
    "ExchangeCaller",
    "Hub",
    "HubState",
    "OptionalStaff",
    "StaffBearer",
    "SystemBearer",
]


def _hub(request: Request) -> HubState:
    hub: HubState = request.app.state.hub
    return hub


def _base_url(request: Request) -> str:
    """The hub's own public URL, from its settings only: never from ``Host`` or any other
    header a client controls (it is the token issuer and the audience of assertions)."""
    return _hub(request).settings.public_url


def _staff(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a Bearer ID token is required", missing=True)
    return _hub(request).identity.verify(token.strip())


def _optional_staff(request: Request) -> Principal | None:
    """The signed-in staff member or citizen, if the request carries a token at all (a token
    that does not verify is still refused, never treated as anonymous)."""
    if not request.headers.get("authorization"):
        return None
    return _staff(request)


def _system(request: Request) -> SystemPrincipal:
    """The case system of a hub access token; the system must still be active."""
    return _checked_system(request, _access_token(request))


def _access_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "a Bearer access token from POST /oauth/token is required", missing=True
        )
    return token.strip()


def _checked_system(request: Request, token: str) -> SystemPrincipal:
    hub = _hub(request)
    with unit_of_work(hub.sessions) as session:
        return verify_access_token(session, hub.keys, token, issuer=_base_url(request))


async def _exchange_caller(request: Request) -> SystemPrincipal | RememberedCaller:
    """:func:`_system` for the exchange's routes, without a trip to the thread pool when it can:
    a token this worker verified before, whose key, time and active system it remembers, is
    taken as remembered here, and the pipeline confirms it in the request's first unit of work
    against the request's change stamps before anything else
    (:func:`~exchange.security.clientauth.confirmed_caller`); any other token is checked in full
    here, on a worker thread, before the body is looked at."""
    token = _access_token(request)
    remembered = remembered_caller(_hub(request).keys, token, issuer=_base_url(request))
    if remembered is not None:
        return remembered
    return await run_in_threadpool(_checked_system, request, token)


async def _hub_now(request: Request) -> HubState:
    """:func:`_hub` as a dependency: reading an attribute needs no worker thread (a sync
    dependency costs a hop to the thread pool and back on every request)."""
    return _hub(request)


async def _base_url_now(request: Request) -> str:
    return _base_url(request)


Hub = Annotated[HubState, Depends(_hub_now)]
BaseUrl = Annotated[str, Depends(_base_url_now)]
StaffBearer = Annotated[Principal, Depends(_staff)]
OptionalStaff = Annotated[Principal | None, Depends(_optional_staff)]
SystemBearer = Annotated[SystemPrincipal, Depends(_system)]
ExchangeCaller = Annotated[SystemPrincipal | RememberedCaller, Depends(_exchange_caller)]
