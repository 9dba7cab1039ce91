"""``GET /catalogue/freshness``: is each resource's data as fresh as its declared frequency?

Open to any signed-in staff (department admins for the console, auditors, operators) and to
case systems with a hub access token; citizens are refused. The answer is metadata only:
codes, modes, times and flags (rules in ``exchange.sources.cache.freshness``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from exchange.api.audit import AnyBearer
from exchange.api.deps import Hub, HubState
from exchange.api.problems import problem_responses
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.security.identity import Principal, Role
from exchange.sources.cache.freshness import freshness_report

__all__ = ["router"]

router = APIRouter(prefix="/catalogue", tags=["catalogue"])

_ENTRY = {
    "type": "object",
    "required": [
        "resource",
        "provider",
        "mode",
        "update_frequency",
        "last_refreshed",
        "due_by",
        "overdue",
    ],
    "properties": {
        "resource": {"type": "string"},
        "provider": {"type": "string"},
        "mode": {"enum": ["live", "cached", "unbound"]},
        "update_frequency": {"type": "string"},
        "last_refreshed": {"type": ["string", "null"], "format": "date-time"},
        "due_by": {"type": ["string", "null"], "format": "date-time"},
        "overdue": {"type": "boolean"},
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["resources"],
                    "properties": {"resources": {"type": "array", "items": _ENTRY}},
                }
            }
        }
    },
    **problem_responses(401, 403),
}


@router.get("/freshness", summary="Freshness of every resource", responses=_RESPONSES)
async def freshness(hub: Hub, caller: AnyBearer) -> dict[str, Any]:
    if isinstance(caller, Principal) and caller.role is Role.CITIZEN:
        raise Forbidden("freshness is for staff and case systems")
    return await run_in_threadpool(_report, hub)


def _report(hub: HubState) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        report = freshness_report(session, hub.sources, datetime.now(UTC))
    return {"resources": [entry.as_json() for entry in report]}
