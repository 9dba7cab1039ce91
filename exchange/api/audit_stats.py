"""The HTTP route of the audit statistics (审计统计) for the console's auditor pages:
``GET /audit/stats``. What is counted and the anomaly rules are :mod:`exchange.audit.stats`'s.

Only auditors may ask (separation of duties, GB/T 39477), like the rest of the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from exchange.api.datetimes import DateTime
from exchange.api.deps import Hub, StaffBearer
from exchange.api.problems import problem_responses
from exchange.audit.reading import AccessNames
from exchange.audit.stats import stats_between, stats_range
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.security.identity import Role

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get(
    "/stats",
    summary="Accesses per day and department, denial rates, top purposes, anomalies (auditor)",
    responses=problem_responses(401, 403, 422),
)
def audit_stats(
    hub: Hub,
    staff: StaffBearer,
    since: Annotated[
        DateTime | None,
        Query(description="RFC 3339 with an offset; default 30 days before `until`"),
    ] = None,
    until: Annotated[
        DateTime | None, Query(description="RFC 3339 with an offset; default now")
    ] = None,
) -> dict[str, Any]:
    if staff.role is not Role.AUDITOR:
        raise Forbidden("only an auditor may read the audit statistics")
    start, end = stats_range(since, until, now=datetime.now(UTC))
    with unit_of_work(hub.sessions) as session:
        view = stats_between(session, since=start, until=end).view()
        view["names"] = _names(AccessNames(session), view)
    return view


def _names(names: AccessNames, view: dict[str, Any]) -> dict[str, Any]:
    """The registry's names of the systems, departments and purposes *view* counts by code
    (``None`` for a code the registry does not know), so the console shows names."""
    systems = {r["system"] for r in view["denials"]["per_system"]}
    systems |= {a["system"] for a in view["anomalies"]}
    departments = {r["department"] for r in view["per_day_department"]}
    return {
        "systems": {s: names.system(s) for s in sorted(systems)},
        "departments": {d: names.department(d) for d in sorted(departments)},
        "purposes": {
            p["purpose"]: names.purpose(p["purpose"], p["department"] or "", None)
            for p in view["top_purposes"]
        },
    }
