"""The audit log's signed checkpoints and their verifier key (C2SP formats, text/plain)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from exchange.api.deps import Hub, StaffBearer
from exchange.api.problems import problem_responses
from exchange.audit.checkpoints import CheckpointSigner, sign_if_stale
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.security.identity import Role

router = APIRouter(prefix="/audit", tags=["audit"])

_TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


def _signer(request: Request) -> CheckpointSigner:
    signer: CheckpointSigner = request.app.state.hub.checkpoints
    return signer


@router.get(
    "/checkpoint",
    summary="The latest signed checkpoint (C2SP tlog-checkpoint signed note)",
    response_class=PlainTextResponse,
    responses={200: _TEXT, **problem_responses(500)},
)
def latest_checkpoint(request: Request, hub: Hub) -> PlainTextResponse:
    """Signs a new checkpoint first when the log has grown and the newest is older than the
    checkpoint interval (or there is none yet)."""
    signer = _signer(request)
    sign_if_stale(signer, hub.sessions)
    with unit_of_work(hub.sessions) as session:
        latest = signer.latest(session)
    if latest is None:  # the very first one, of the empty log
        with unit_of_work(hub.sessions, write=True) as session:
            latest = signer.sign(session)
    return PlainTextResponse(latest.note, headers={"Cache-Control": "no-cache"})


@router.post(
    "/checkpoint",
    summary="Sign a checkpoint of the log now (auditor or operator)",
    response_class=PlainTextResponse,
    responses={200: _TEXT, **problem_responses(401, 403, 500)},
)
def sign_checkpoint(request: Request, hub: Hub, staff: StaffBearer) -> PlainTextResponse:
    if staff.role not in {Role.AUDITOR, Role.OPERATOR}:
        raise Forbidden("only auditors and operators may ask for a checkpoint")
    with unit_of_work(hub.sessions, write=True) as session:
        signed = _signer(request).sign(session)
    return PlainTextResponse(signed.note)


@router.get(
    "/checkpoint/key",
    summary="The checkpoint verifier key (C2SP vkey)",
    response_class=PlainTextResponse,
    responses={200: _TEXT},
)
def checkpoint_key(request: Request) -> PlainTextResponse:
    return PlainTextResponse(_signer(request).vkey() + "\n")
