"""The audit log's signed checkpoints and their verifier key (C2SP formats, text/plain)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from exchange.api.deps import Hub, StaffBearer
from exchange.api.problems import problem_responses
from exchange.audit.checkpoints import CheckpointSigner, sign_if_stale
from exchange.audit.errors import NoWitnessedCheckpoint
from exchange.audit.witnessing import WitnessGap
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
    responses={200: _TEXT, **problem_responses(404, 422, 500)},
)
def latest_checkpoint(
    request: Request,
    hub: Hub,
    witnessed: Annotated[
        bool,
        Query(description="The newest checkpoint that meets the hub's witness policy instead"),
    ] = False,
) -> PlainTextResponse:
    """The newest checkpoint with every witness cosignature the hub holds for it. Signs a new
    checkpoint first when the log has grown and the newest is older than the checkpoint
    interval (or there is none yet). ``Tongban-Witness-Policy`` says whether the note meets the
    hub's witness policy (``met``, ``not-met``; ``none`` when the hub has no witnesses), in
    words in ``Tongban-Witness-Policy-Detail``; ``?witnessed=true`` answers the newest
    checkpoint that meets it (404 when none does yet)."""
    signer = _signer(request)
    if not witnessed:
        sign_if_stale(signer, hub.sessions)
    with unit_of_work(hub.sessions) as session:
        latest = signer.latest(session)
    if latest is None:  # the very first one, of the empty log
        with unit_of_work(hub.sessions, write=True) as session:
            latest = signer.sign(session)
    witnessing = hub.witnessing
    with unit_of_work(hub.sessions) as session:
        if witnessed:
            found = witnessing.newest_witnessed(session)
            if found is None:
                raise NoWitnessedCheckpoint(
                    f"no checkpoint meets the witness policy yet ({witnessing.describe()})"
                )
            note, verdict = found
        else:
            note = witnessing.note(session, latest)
            verdict = witnessing.verdict(note)
    state = "none" if not witnessing.configured else "met" if verdict.met else "not-met"
    headers = {
        "Cache-Control": "no-cache",
        "Tongban-Witness-Policy": state,
        "Tongban-Witness-Policy-Detail": _ascii_header(verdict.explanation),
    }
    return PlainTextResponse(note, headers=headers)


@router.get(
    "/witness-policy",
    summary="The hub's witness policy (c2sp.org/tlog-policy), its own log line included",
    response_class=PlainTextResponse,
    responses={200: _TEXT},
)
def witness_policy(hub: Hub) -> PlainTextResponse:
    """What the hub submits to and what it calls published. A verifier that does not trust the
    hub keeps its own copy of a policy (from the audit bureau, say) and checks against that;
    this one is for comparing and for a first start."""
    return PlainTextResponse(hub.witnessing.policy_text, headers={"Cache-Control": "no-cache"})


@router.get(
    "/witnesses",
    summary="The hub's witness policy and what it last heard from each witness",
    responses=problem_responses(),
)
def witnesses(hub: Hub) -> dict[str, Any]:
    """No personal data: witness names, URLs, tree sizes and times."""
    with unit_of_work(hub.sessions) as session:
        gap = hub.witnessing.gap(session)
    return witness_view(gap)


def witness_view(gap: WitnessGap) -> dict[str, Any]:
    """The gap between the log and its witnessed checkpoint, as /audit/witnesses and /readyz
    show it."""
    return {
        "policy": gap.policy,
        "configured": gap.configured,
        "log_size": gap.log_size,
        "checkpoint_size": gap.checkpoint_size,
        "witnessed_size": gap.witnessed_size,
        "unwitnessed_entries": gap.unwitnessed_entries,
        "failing": gap.failing,
        "witnesses": [
            {
                "name": row.name,
                "cosigner": row.cosigner,
                "url": row.url,
                "cosigned_size": row.cosigned_size,
                "last_success_at": row.last_success_at,
                "last_attempt_at": row.last_attempt_at,
                "last_error": row.last_error,
            }
            for row in gap.witnesses
        ],
    }


def _ascii_header(text: str) -> str:
    """A header value of printable ASCII (the explanation is the hub's own English words)."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:300]


@router.post(
    "/checkpoint",
    summary="Sign a checkpoint of the log now (auditor or operator)",
    response_class=PlainTextResponse,
    responses={200: _TEXT, **problem_responses(401, 403, 500)},
)
def sign_checkpoint(request: Request, hub: Hub, staff: StaffBearer) -> PlainTextResponse:
    if staff.role not in {Role.AUDITOR, Role.OPERATOR}:
        raise Forbidden("only auditors and operators may ask for a checkpoint")
    """Then submits it to the witnesses of the hub's policy at once and answers the note with
    the cosignatures it got (a witness that is down does not fail the request)."""
    with unit_of_work(hub.sessions, write=True) as session:
        signed = _signer(request).sign(session)
    hub.witnessing.submit(hub.sessions)
    with unit_of_work(hub.sessions) as session:
        note = hub.witnessing.note(session, signed)
    return PlainTextResponse(note)


@router.get(
    "/checkpoint/key",
    summary="The checkpoint verifier key (C2SP vkey)",
    response_class=PlainTextResponse,
    responses={200: _TEXT},
)
def checkpoint_key(request: Request) -> PlainTextResponse:
    return PlainTextResponse(_signer(request).vkey() + "\n")
