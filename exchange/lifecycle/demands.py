"""Supply-demand requests (供需对接, 《政务数据共享条例》 art. 20): data in no catalogue yet.

1. **file** (an admin of the requesting department): what is wanted, its 使用依据, 使用场景,
   使用范围, 共享方式 and 使用时限 (a day after today), all required; the routing clock
   (``demand_route_working_days``) starts;
2. **route** (the data authority): to a provider department other than the requester; the
   reply clock (``demand_reply_working_days``) starts. A request is routed again when its
   provider refused it or let the reply clock run out;
3. **reply** (an admin of the provider it is routed to), before the reply clock runs out
   (after it, ``clock_expired``: the authority routes it again): **connect** it to a live entry
   the provider publishes (catalogued, through the review), or **refuse** with reasons.

The requester, the provider and the authority see every step (the request's audit entries,
kind ``demand``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from catalogue.models import Department, Resource
from catalogue.vocabulary import SharingMethod
from exchange.agreements.workdays import china_day
from exchange.audit.lifecycle import hold_log
from exchange.errors import Forbidden
from exchange.lifecycle.audit import Actor, log_demand_event
from exchange.lifecycle.clocks import Clocks, due_after
from exchange.lifecycle.errors import (
    ClockExpired,
    DemandNotFound,
    DemandNotPending,
    DemandResourceInvalid,
    InvalidDemand,
    ReasonsRequired,
)
from exchange.lifecycle.models import DataDemand, DemandStatus
from exchange.lifecycle.review import ADMIN, AUTHORITY, HEAD, require
from schemas import ProblemDetail

__all__ = ["DemandAsk", "file_demand", "reply_demand", "route_demand", "visible_demand"]


@dataclass(frozen=True)
class DemandAsk:
    title: str
    wanted: str
    basis: str  # 使用依据
    scenario: str  # 使用场景
    scope: str  # 使用范围
    method: SharingMethod  # 共享方式
    term_until: date  # 使用时限


def file_demand(
    session: Session, actor: Actor, ask: DemandAsk, now: datetime, clocks: Clocks
) -> DataDemand:
    """Step 1: a department's request, on the routing clock."""
    if actor.role != ADMIN or actor.department is None:
        raise Forbidden("only a department admin files a supply-demand request")
    if ask.term_until <= china_day(now):
        raise InvalidDemand(
            "the term of use (使用时限) ends after today",
            errors=[ProblemDetail(pointer="/term_until", detail="must be a later day")],
        )
    hold_log(session)
    demand = DataDemand(
        id=f"dmd-{uuid.uuid4()}",
        requester=actor.department,
        requested_by=actor.subject,
        title=ask.title,
        wanted=ask.wanted,
        basis=ask.basis,
        scenario=ask.scenario,
        scope=ask.scope,
        method=ask.method.value,
        term_until=ask.term_until,
        status=DemandStatus.FILED.value,
        filed_at=now,
        route_due_on=due_after(now, clocks.demand_route),
    )
    session.add(demand)
    session.flush()
    _log(session, actor, demand, "filed", due_on=demand.route_due_on)
    return demand


def route_demand(
    session: Session,
    actor: Actor,
    demand_id: str,
    provider: str,
    note: str | None,
    now: datetime,
    clocks: Clocks,
) -> DataDemand:
    """Step 2: the data authority routes the request to *provider*."""
    if actor.role != AUTHORITY:
        raise Forbidden("only the data authority routes supply-demand requests")
    hold_log(session)
    demand = _demand(session, actor, demand_id, lock=True)
    reroutable = demand.status == DemandStatus.REFUSED.value or (
        demand.status == DemandStatus.ROUTED.value
        and demand.reply_due_on is not None
        and china_day(now) > demand.reply_due_on
    )
    if demand.status != DemandStatus.FILED.value and not reroutable:
        raise DemandNotPending(f"request {demand.id} is {demand.status}; it cannot be routed")
    if session.get(Department, provider) is None or provider == demand.requester:
        raise InvalidDemand(
            "route the request to another department of the catalogue",
            errors=[ProblemDetail(pointer="/provider", detail="not a provider for this request")],
        )
    demand.status = DemandStatus.ROUTED.value
    demand.provider = provider
    demand.routed_by = actor.subject
    demand.routed_at = now
    demand.route_note = note
    demand.reply_due_on = due_after(now, clocks.demand_reply)
    demand.replied_at = demand.replied_by = demand.reasons = None
    session.flush()
    _log(session, actor, demand, "routed", due_on=demand.reply_due_on)
    return demand


def reply_demand(
    session: Session,
    actor: Actor,
    demand_id: str,
    *,
    connect: bool,
    resource: str | None,
    reasons: str | None,
    now: datetime,
) -> DataDemand:
    """Step 3: the provider connects the request to its published entry, or refuses it."""
    hold_log(session)
    demand = _demand(session, actor, demand_id, lock=True)
    if demand.status != DemandStatus.ROUTED.value or demand.provider is None:
        raise DemandNotPending(f"request {demand.id} is {demand.status}; it takes no reply")
    require(actor, ADMIN, demand.provider)
    if demand.reply_due_on is not None and china_day(now) > demand.reply_due_on:
        raise ClockExpired(
            f"the reply to request {demand.id} was due on {demand.reply_due_on.isoformat()}; "
            "the data authority routes it again"
        )
    if connect:
        entry = session.get(Resource, resource) if resource else None
        if entry is None or entry.provider_code != demand.provider or entry.deprecated_at:
            raise DemandResourceInvalid(
                "connect the request to a live entry your department publishes",
                errors=[ProblemDetail(pointer="/resource", detail="not such an entry")],
            )
        demand.status = DemandStatus.CONNECTED.value
        demand.resource_code = entry.code
    else:
        if not reasons:
            raise ReasonsRequired("a refused request gives the requester its reasons")
        demand.status = DemandStatus.REFUSED.value
        demand.reasons = reasons
    demand.replied_by = actor.subject
    demand.replied_at = now
    session.flush()
    event = "connected" if connect else "refused"
    _log(session, actor, demand, event, resource=demand.resource_code if connect else None)
    return demand


def visible_demand(session: Session, actor: Actor, demand_id: str) -> DataDemand:
    return _demand(session, actor, demand_id, lock=False)


def may_see_demand(actor: Actor, demand: DataDemand) -> bool:
    """The authority sees every request; a department's staff those it filed or is routed."""
    if actor.role == AUTHORITY:
        return True
    return actor.role in (ADMIN, HEAD) and actor.department in (demand.requester, demand.provider)


def _demand(session: Session, actor: Actor, demand_id: str, *, lock: bool) -> DataDemand:
    demand = session.get(DataDemand, demand_id, with_for_update=lock)
    if demand is None or not may_see_demand(actor, demand):
        raise DemandNotFound(f"no supply-demand request {demand_id}")
    return demand


def _log(session: Session, actor: Actor, demand: DataDemand, event: str, **extra: object) -> None:
    log_demand_event(
        session,
        actor,
        object_id=demand.id,
        requester=demand.requester,
        provider=demand.provider,
        event=event,
        status_after=demand.status,
        **extra,
    )
