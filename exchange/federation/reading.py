"""Where a resource of the local catalogue comes from, for the catalogue's views."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.federation.models import FederationPeer, RemoteResource

__all__ = ["origin_of", "origins_of"]


def origin_of(session: Session, code: str) -> dict[str, Any] | None:
    """``{peer, hub, version}`` of a resource another hub holds (its version there); None for
    the hub's own."""
    return origins_of(session, [code]).get(code)


def origins_of(session: Session, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = list(codes)
    if not wanted:
        return {}
    rows = session.execute(
        select(
            RemoteResource.code,
            RemoteResource.remote_version,
            FederationPeer.id,
            FederationPeer.url,
        )
        .join(FederationPeer, FederationPeer.id == RemoteResource.peer_id)
        .where(RemoteResource.code.in_(wanted))
    )
    return {
        code: {"peer": peer, "hub": url, "version": version} for code, version, peer, url in rows
    }
