"""Dependencies shared by the routes, as ``Annotated`` aliases so routes stay declarative."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from exchange.identity import IdentityProviders, Principal
from exchange.problems import Unauthenticated
from exchange.settings import Settings
from exchange.source_registry import SourceRegistry

__all__ = ["BaseUrl", "Hub", "HubState", "StaffBearer"]


@dataclass(frozen=True)
class HubState:
    """What the app factory built: settings, the database, the trusted identity providers,
    the sources the resources are bound to."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    identity: IdentityProviders
    sources: SourceRegistry


def _hub(request: Request) -> HubState:
    hub: HubState = request.app.state.hub
    return hub


def _base_url(request: Request) -> str:
    configured = _hub(request).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def _staff(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a Bearer ID token is required")
    return _hub(request).identity.verify(token.strip())


Hub = Annotated[HubState, Depends(_hub)]
BaseUrl = Annotated[str, Depends(_base_url)]
StaffBearer = Annotated[Principal, Depends(_staff)]
