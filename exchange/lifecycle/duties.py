"""Update duties: a catalogue entry updated after a change of law or duties (条例 art. 16).

1. **open** (the data authority, or an admin of the entry's provider): a live entry with no
   other open duty, and a reason; the clock is ``catalogue_update_working_days`` (10
   nationally) from that day;
2. **extension** (an admin of the provider), once, with a reason, before the clock runs out;
3. **decision** on the extension (the data authority, never of the provider's own department):
   approved, the clock gains ``catalogue_update_extension_working_days`` (5 nationally) from its
   old last day; refused, with reasons;
4. **fulfilled** when a reviewed version of the entry is published
   (:func:`exchange.lifecycle.review.review_submission`), on time or late: an update is never
   refused for lateness, the duty shows overdue until then.

Every step is an audit entry (kind ``catalogue``, type ``update_duty``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.errors import ResourceDeprecated, ResourceNotFound
from catalogue.models import Resource
from exchange.agreements.workdays import add_working_days, china_day, official_calendar
from exchange.audit.lifecycle import hold_log
from exchange.errors import Forbidden
from exchange.lifecycle.audit import Actor, log_catalogue_event
from exchange.lifecycle.clocks import Clocks, due_after
from exchange.lifecycle.errors import (
    ClockExpired,
    ExtensionAlreadyAsked,
    ExtensionNotAsked,
    ReasonsRequired,
    ReviewerOwnDepartment,
    UpdateDutyNotFound,
    UpdateDutyNotOpen,
    UpdateDutyOpen,
)
from exchange.lifecycle.models import DutyStatus, ExtensionStatus, UpdateDuty
from exchange.lifecycle.review import ADMIN, AUTHORITY, may_see, require

__all__ = ["ask_extension", "decide_extension", "open_duty", "visible_duty"]


def open_duty(
    session: Session, actor: Actor, code: str, reason: str, now: datetime, clocks: Clocks
) -> UpdateDuty:
    """Step 1: a duty to update entry *code*, for *reason*."""
    hold_log(session)
    resource = session.get(Resource, code)
    if resource is None:
        raise ResourceNotFound(f"no resource with code {code!r}")
    if actor.role != AUTHORITY:
        require(actor, ADMIN, resource.provider_code)
    if resource.deprecated_at is not None:
        raise ResourceDeprecated(f"resource {code!r} is deprecated")
    open_one = session.scalar(
        select(UpdateDuty.id).where(
            UpdateDuty.resource_code == code, UpdateDuty.status == DutyStatus.OPEN.value
        )
    )
    if open_one is not None:
        raise UpdateDutyOpen(f"entry {code} already has open update duty {open_one}")
    duty = UpdateDuty(
        id=f"dut-{uuid.uuid4()}",
        resource_code=code,
        provider=resource.provider_code,
        reason=reason,
        opened_by=actor.subject,
        opened_role=actor.role,
        opened_at=now,
        due_on=due_after(now, clocks.update),
        status=DutyStatus.OPEN.value,
        extension=ExtensionStatus.NONE.value,
    )
    session.add(duty)
    session.flush()
    _log(session, actor, duty, "duty_opened", due_on=duty.due_on)
    return duty


def ask_extension(
    session: Session, actor: Actor, duty_id: str, reason: str, now: datetime
) -> UpdateDuty:
    """Step 2: the provider asks, once and in time, for the extension."""
    hold_log(session)
    duty = _duty(session, actor, duty_id, lock=True)
    require(actor, ADMIN, duty.provider)
    _require_open(duty)
    if duty.extension != ExtensionStatus.NONE.value:
        raise ExtensionAlreadyAsked(f"update duty {duty.id} has had its one extension request")
    if china_day(now) > duty.due_on:
        raise ClockExpired(f"update duty {duty.id} ran out on {duty.due_on.isoformat()}")
    duty.extension = ExtensionStatus.ASKED.value
    duty.extension_reason = reason
    duty.extension_asked_at = now
    session.flush()
    _log(session, actor, duty, "extension_asked")
    return duty


def decide_extension(
    session: Session,
    actor: Actor,
    duty_id: str,
    *,
    approve: bool,
    reasons: str | None,
    now: datetime,
    clocks: Clocks,
) -> UpdateDuty:
    """Step 3: the data authority approves the extension or refuses it with reasons."""
    if actor.role != AUTHORITY:
        raise Forbidden("only the data authority decides an extension")
    hold_log(session)
    duty = _duty(session, actor, duty_id, lock=True)
    if actor.department is not None and actor.department == duty.provider:
        raise ReviewerOwnDepartment(f"update duty {duty.id} is your own department's")
    _require_open(duty)
    if duty.extension != ExtensionStatus.ASKED.value:
        raise ExtensionNotAsked(f"update duty {duty.id} has no extension waiting")
    if not approve and not reasons:
        raise ReasonsRequired("a refused extension gives its reasons")
    duty.extension_decided_by = actor.subject
    duty.extension_decided_at = now
    duty.extension_reasons = reasons
    if approve:
        duty.extension = ExtensionStatus.APPROVED.value
        duty.due_on = add_working_days(duty.due_on, clocks.update_extension, official_calendar())
        session.flush()
        _log(session, actor, duty, "extended", due_on=duty.due_on)
    else:
        duty.extension = ExtensionStatus.REFUSED.value
        session.flush()
        _log(session, actor, duty, "not_extended")
    return duty


def visible_duty(session: Session, actor: Actor, duty_id: str) -> UpdateDuty:
    return _duty(session, actor, duty_id, lock=False)


def _duty(session: Session, actor: Actor, duty_id: str, *, lock: bool) -> UpdateDuty:
    duty = session.get(UpdateDuty, duty_id, with_for_update=lock)
    if duty is None or not may_see(actor, duty.provider):
        raise UpdateDutyNotFound(f"no update duty {duty_id}")
    return duty


def _require_open(duty: UpdateDuty) -> None:
    if duty.status != DutyStatus.OPEN.value:
        raise UpdateDutyNotOpen(f"update duty {duty.id} is {duty.status}")


def _log(session: Session, actor: Actor, duty: UpdateDuty, event: str, **extra: object) -> None:
    log_catalogue_event(
        session,
        actor,
        type_="update_duty",
        object_id=duty.id,
        resource=duty.resource_code,
        provider=duty.provider,
        event=event,
        status_after=duty.status,
        **extra,
    )
