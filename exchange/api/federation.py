"""Peer hubs (级联), for the hub's operator: register one with its keys pinned, harvest a
source peer's catalogue, suspend or resume one; auditors may read them too
(docs/federation.md).

Relayed queries themselves go through ``POST /exchange/query`` (``on_behalf_of``), not here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from exchange import clock
from exchange.api.deps import Hub, StaffBearer
from exchange.api.problems import problem_responses
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.federation.harvest import harvest
from exchange.federation.service import (
    PeerKeys,
    PeerRegistration,
    check_url,
    fetch_keys,
    get_peer,
    harvests_view,
    list_peers,
    peer_view,
    register_peer,
    set_status,
)
from exchange.security.identity import Principal, Role

__all__ = ["router"]

router = APIRouter(prefix="/federation", tags=["federation"])

_READERS = {Role.OPERATOR, Role.AUDITOR}


class PeerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$", description="A short name: `province`")
    url: str = Field(max_length=500, description="The peer hub's public URL (its issuer)")
    name: str | None = Field(default=None, max_length=200)
    client_id: str | None = Field(
        default=None, max_length=64, description="Source: this hub's system id at the peer"
    )
    key_file: str | None = Field(
        default=None,
        max_length=1000,
        description="Source: the file (on this hub) of this hub's private JWK for the peer",
    )
    consumer_system: str | None = Field(
        default=None, max_length=64, description="Consumer: the local system the peer uses"
    )
    jwks: dict[str, Any] | None = Field(
        default=None, description="The peer's JWKS, handed over out of band; else read now"
    )
    checkpoint_key: str | None = Field(
        default=None, max_length=500, description="The peer's checkpoint vkey; else read now"
    )


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(pattern=r"^(active|suspended)$")


def _require(staff: Principal, *, write: bool) -> None:
    allowed = {Role.OPERATOR} if write else _READERS
    if staff.role not in allowed:
        raise Forbidden(
            "only the hub's operator manages peer hubs"
            if write
            else "only operators and auditors may read the peer hubs"
        )


@router.get("/peers", summary="The peer hubs", responses=problem_responses(401, 403))
def peers(hub: Hub, staff: StaffBearer) -> dict[str, Any]:
    _require(staff, write=False)
    with unit_of_work(hub.sessions) as session:
        return {"peers": list_peers(session)}


@router.get(
    "/peers/{peer_id}", summary="One peer hub", responses=problem_responses(401, 403, 404, 422)
)
def peer(peer_id: str, hub: Hub, staff: StaffBearer) -> dict[str, Any]:
    _require(staff, write=False)
    with unit_of_work(hub.sessions) as session:
        return peer_view(session, get_peer(session, peer_id))


@router.post(
    "/peers",
    status_code=201,
    summary="Register a peer hub, its keys pinned",
    responses=problem_responses(401, 403, 409, 422, 502),
)
def add_peer(body: PeerBody, hub: Hub, staff: StaffBearer) -> dict[str, Any]:
    _require(staff, write=True)
    if body.jwks is not None and body.checkpoint_key is not None:
        keys = PeerKeys(body.jwks, body.checkpoint_key)
    else:
        check_url(body.url, allow_http=hub.settings.mode == "dev")
        keys = fetch_keys(body.url)
    registration = PeerRegistration(
        body.id,
        body.url,
        name=body.name,
        client_id=body.client_id,
        key_file=body.key_file,
        consumer_system=body.consumer_system,
    )
    with unit_of_work(hub.sessions, write=True) as session:
        registered = register_peer(
            session,
            registration,
            keys,
            by=f"operator:{staff.subject}",
            now=clock.now(),
            allow_http=hub.settings.mode == "dev",
            profile=hub.settings.crypto_profile,
        )
        return peer_view(session, registered)


@router.post(
    "/peers/{peer_id}/status",
    summary="Suspend a peer hub, or make it active again",
    responses=problem_responses(401, 403, 404, 422),
)
def peer_status(
    peer_id: str, body: Annotated[StatusBody, Body()], hub: Hub, staff: StaffBearer
) -> dict[str, Any]:
    _require(staff, write=True)
    with unit_of_work(hub.sessions, write=True) as session:
        peer = set_status(
            session, peer_id, body.status, by=f"operator:{staff.subject}", now=clock.now()
        )
        return peer_view(session, peer)


@router.post(
    "/peers/{peer_id}/harvest",
    summary="Harvest the peer's DCAT-AP catalogue: a new version, or refused with why",
    responses=problem_responses(401, 403, 404, 422, 502),
)
async def harvest_peer(peer_id: str, hub: Hub, staff: StaffBearer) -> dict[str, Any]:
    _require(staff, write=True)
    by = f"operator:{staff.subject}"
    return await run_in_threadpool(lambda: harvest(hub.sessions, peer_id, by=by, now=clock.now()))


@router.get(
    "/peers/{peer_id}/harvests",
    summary="Every harvest of the peer's catalogue, newest first",
    responses=problem_responses(401, 403, 404, 422),
)
def peer_harvests(peer_id: str, hub: Hub, staff: StaffBearer) -> dict[str, Any]:
    _require(staff, write=False)
    with unit_of_work(hub.sessions) as session:
        return {"harvests": harvests_view(session, peer_id)}
