"""The steps of a 2025-form application between filing and decision, and its delivery: the one
notice of missing materials and their supply, the one extension and the data authority's
decision on it, and the delivery that stops the delivery clock.

The rules and clocks are in :mod:`exchange.agreements.applications`. Each function takes the
caller's session, locks the agreement after the audit log's head, checks in the order written
in its docstring, records the event in the agreement's history and appends its lifecycle entry
to the audit log; the caller commits. Nothing changes on a refusal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange.agreements.applications import (
    ReplyClocks,
    notice_items,
    requested_extension,
    require_2025_form,
    require_deliverable,
    require_extension_allowed,
    require_officer,
    require_on_time,
    require_pending,
    supplied_application,
    working_day_after,
)
from exchange.agreements.errors import (
    AgreementNotFound,
    InvalidApplication,
    InvalidDecision,
    NoMaterialsRequested,
)
from exchange.agreements.lifecycle import log_agreement_event
from exchange.agreements.models import Agreement
from exchange.agreements.reading import visible_agreement
from exchange.agreements.service import Actor, record_event
from exchange.agreements.workdays import add_working_days, china_day, official_calendar
from exchange.audit.lifecycle import hold_log
from exchange.errors import Forbidden
from exchange.security.identity import Principal, Role
from schemas import ProblemDetail, explain_all, validator
from schemas.text import document_text_problems

__all__ = [
    "ExtensionDecision",
    "decide_extension",
    "deliver",
    "record_delivery",
    "request_extension",
    "send_materials_notice",
    "supply_materials",
]


def _actor(principal: Principal) -> Actor:
    return Actor(principal.subject, principal.role.value, principal.department)


def _locked(session: Session, principal: Principal, agreement_id: str) -> Agreement:
    hold_log(session)  # the log's head lock before the agreement's row lock
    return visible_agreement(session, principal, agreement_id, lock=True)


def _step(
    session: Session,
    agreement: Agreement,
    principal: Principal,
    event: str,
    now: datetime,
    detail: dict[str, Any],
) -> Agreement:
    record_event(session, agreement, _actor(principal), event, now, detail)
    log_agreement_event(session, agreement, event)
    return agreement


def send_materials_notice(
    session: Session,
    principal: Principal,
    agreement_id: str,
    items: Sequence[Mapping[str, str]],
    *,
    now: datetime,
) -> Agreement:
    """The provider's one notice of missing materials (一次性告知). Checks: visible (404); the
    provider's sharing officer (403); the 2025 form (409); pending (409); within the reply
    clock (409 ``reply_overdue``); no notice sent before (409); the items name every missing
    material (422). The reply clock stops until the materials are supplied."""
    agreement = _locked(session, principal, agreement_id)
    require_officer(principal, agreement.provider_department, "answer this application")
    require_2025_form(agreement)
    require_pending(agreement)
    require_on_time(agreement, now)
    listed = notice_items(agreement, items)
    stopped = agreement.due_by
    agreement.materials_notice = {
        "at": now.isoformat(),
        "by": principal.subject,
        "items": listed,
        "clock_stopped_on": None if stopped is None else stopped.isoformat(),
    }
    agreement.due_by = None
    return _step(session, agreement, principal, "materials_asked", now, {"items": listed})


def supply_materials(
    session: Session,
    principal: Principal,
    agreement_id: str,
    supplied: Mapping[str, Any],
    *,
    now: datetime,
    clocks: ReplyClocks,
) -> Agreement:
    """The applicant supplies what the notice listed. Checks: visible (404); the consumer's
    sharing officer (403); the 2025 form (409); pending and awaiting materials (409); the
    application with them still matches the schema (422) and includes every listed material
    (422). The reply clock starts again, whole, from the day of supply."""
    agreement = _locked(session, principal, agreement_id)
    require_officer(principal, agreement.consumer_department, "supply materials for it")
    require_2025_form(agreement)
    require_pending(agreement)
    if agreement.materials_notice is None or agreement.materials_supplied_at is not None:
        raise NoMaterialsRequested(f"agreement {agreement.id} awaits no materials")
    use, legal_basis = supplied_application(agreement, supplied)
    candidate = {
        "system": agreement.system_id,
        "resource": agreement.resource_code,
        "fields": list(agreement.fields),
        "purpose": agreement.purposes[0],
        "legal_basis": legal_basis,
        "justification": agreement.justification or "-",
        "valid_until": "2999-12-31",
        "use": use,
    }
    problems = explain_all(validator("agreement").iter_errors(candidate))
    if not problems:
        problems = list(document_text_problems({"use": use, "other": supplied.get("other")}))
    if problems:
        raise InvalidApplication("the supplied materials are not valid", errors=problems)
    agreement.use = use
    agreement.legal_basis = legal_basis
    agreement.materials_supplied_at = now
    agreement.due_by = working_day_after(now, agreement.reply_working_days or clocks.conditional)
    detail = {
        "materials": sorted(_supplied_names(supplied)),
        "due_by": agreement.due_by.isoformat(),
    }
    if supplied.get("other"):
        detail["other"] = str(supplied["other"])
    return _step(session, agreement, principal, "materials_given", now, detail)


def _supplied_names(supplied: Mapping[str, Any]) -> set[str]:
    names = set((supplied.get("use") or {}).keys())
    return names | {k for k in ("legal_basis", "other") if supplied.get(k)}


def request_extension(
    session: Session,
    principal: Principal,
    agreement_id: str,
    *,
    days: int,
    reason: str,
    now: datetime,
    clocks: ReplyClocks,
) -> Agreement:
    """The provider asks the data authority to extend the reply clock, once. Checks: visible
    (404); the provider's sharing officer (403); the 2025 form (409); pending (409); within the
    clock (409); never asked before (409); a conditional application not awaiting materials
    (409); at most the configured days, with a reason (422). The clock is unchanged until the
    authority approves."""
    agreement = _locked(session, principal, agreement_id)
    require_officer(principal, agreement.provider_department, "answer this application")
    require_2025_form(agreement)
    require_pending(agreement)
    require_on_time(agreement, now)
    require_extension_allowed(agreement, days, clocks)
    text = _reason(reason)
    agreement.extension = {
        "status": "requested",
        "days": days,
        "reason": text,
        "requested_at": now.isoformat(),
        "requested_by": principal.subject,
    }
    detail = {"days": days, "reason": text}
    return _step(session, agreement, principal, "extension_asked", now, detail)


@dataclass(frozen=True)
class ExtensionDecision:
    """The data authority approves the extension asked for, or refuses it with a reason."""

    approve: bool
    reason: str | None = None


def decide_extension(
    session: Session,
    principal: Principal,
    agreement_id: str,
    decision: ExtensionDecision,
    *,
    now: datetime,
) -> Agreement:
    """The data authority decides an extension. Checks: the data authority (403); the
    agreement exists (404); pending (409); an extension awaits a decision (409); within the
    original clock (409); a refusal has a reason (422). An approval moves the due day and is
    the notice to the requester: its view shows the new due day and the provider's reason."""
    if principal.role is not Role.DATA_AUTHORITY:
        raise Forbidden("only the data authority may decide an extension")
    hold_log(session)
    agreement = session.get(Agreement, agreement_id, with_for_update=True)
    if agreement is None:
        raise AgreementNotFound(f"no agreement {agreement_id!r}")
    require_pending(agreement)
    extension = requested_extension(agreement)
    require_on_time(agreement, now)
    extension.update(decided_at=now.isoformat(), decided_by=principal.subject)
    if not decision.approve:
        extension.update(status="refused", decision_reason=_reason(decision.reason or ""))
        agreement.extension = extension
        detail = {"reason": extension["decision_reason"]}
        return _step(session, agreement, principal, "extension_denied", now, detail)
    due = agreement.due_by
    if due is None:  # not reachable: an extension is never asked while the clock is stopped
        raise InvalidDecision("the reply clock is stopped")
    new_due = add_working_days(due, int(extension["days"]), official_calendar())
    extension.update(status="approved", due_before=due.isoformat(), due_after=new_due.isoformat())
    if decision.reason and decision.reason.strip():
        extension["decision_reason"] = decision.reason.strip()
    agreement.extension = extension
    agreement.due_by = new_due
    detail = {"days": extension["days"], "due_by": new_due.isoformat()}
    return _step(session, agreement, principal, "extended", now, detail)


def record_delivery(
    session: Session,
    principal: Principal | None,
    agreement: Agreement,
    channel: str,
    *,
    now: datetime,
    by: Actor | None = None,
    evidence: dict[str, Any] | None = None,
) -> Agreement:
    """The data is delivered through *channel* at *now*: the delivery clock stops. By the
    provider's sharing officer (*principal*), or by the hub itself (*by*): at the first chunk
    of a batch extract served, or at the first query under the agreement, read from the audit
    log (:mod:`exchange.agreements.deliveries`; *evidence* names its entry). Checks: the 2025
    form, approved and in force, not delivered yet, a channel the agreement names (409)."""
    require_deliverable(agreement, channel, now)
    actor = by if by is not None else _actor(principal) if principal is not None else None
    if actor is None:
        raise Forbidden("a delivery names who recorded it")
    due = agreement.delivery_due_by
    agreement.delivery = {
        "channel": channel,
        "at": now.isoformat(),
        "by": actor.subject,
        "on_time": due is None or china_day(now) <= due,
        **(evidence or {}),
    }
    record_event(session, agreement, actor, "delivered", now, dict(agreement.delivery))
    log_agreement_event(session, agreement, "delivered")
    return agreement


def deliver(
    session: Session, principal: Principal, agreement_id: str, channel: str, *, now: datetime
) -> Agreement:
    """The provider's sharing officer records the delivery (see :func:`record_delivery`)."""
    agreement = _locked(session, principal, agreement_id)
    require_officer(principal, agreement.provider_department, "record the delivery")
    return record_delivery(session, principal, agreement, channel, now=now)


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise InvalidDecision(
            "a reason is required", errors=[ProblemDetail(pointer="/reason", detail="required")]
        )
    return reason
