"""The steps a per-access deferral (:mod:`exchange.notice.service`) and a standing one
(:mod:`exchange.notice.standing`) share once asked for: a second department admin approves or
refuses it, an admin of the department records the event that ends it, and the
``notice.deferrals`` job ends those whose China day has come. Each kind keeps its own table and
its own log entry (:class:`Steps` is given the function that writes it); the rules and the
problem codes are the same for both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.agreements.workdays import china_day
from exchange.audit.lifecycle import hold_log
from exchange.notice.errors import (
    DeferralApproverRole,
    DeferralDecided,
    DeferralEndInPast,
    DeferralForbidden,
    DeferralNotActive,
    DeferralNotFound,
    DeferralSelfApproval,
)
from exchange.notice.models import DeferralStatus, EndedBy, NoticeDeferral, StandingDeferral
from exchange.security.identity import Principal, Role

__all__ = ["Steps", "check_future"]

Row = TypeVar("Row", NoticeDeferral, StandingDeferral)

Log = Callable[..., None]
"""Writes one event of a row: ``log(session, row, event, now, *, by, role, ended_by=None)``,
in the caller's transaction, which holds the log's head lock."""


@dataclass(frozen=True)
class Steps(Generic[Row]):
    model: type[Row]
    log: Log
    approver_rule: str  # the refusal when the approver is not a department admin
    self_approval: str  # the refusal when the asker approves their own

    def decide(
        self, session: Session, staff: Principal, deferral_id: str, *, approve: bool, now: datetime
    ) -> Row:
        """A second department admin approves (from this commit on it hides) or refuses it."""
        if staff.role is not Role.DEPARTMENT_ADMIN or not staff.department:
            raise DeferralApproverRole(self.approver_rule)
        hold_log(session)
        row = self.departments(session, staff, deferral_id)
        if row.requested_by == staff.subject:
            raise DeferralSelfApproval(self.self_approval)
        if row.status is not DeferralStatus.REQUESTED:
            raise DeferralDecided(f"deferral {deferral_id} was already {row.status.value}")
        if approve:
            check_future(row.until, now)
        row.status = DeferralStatus.ACTIVE if approve else DeferralStatus.REFUSED
        row.decided_by = staff.subject
        row.decided_at = now
        session.flush()
        event = "approved" if approve else "refused"
        self.log(session, row, event, now, by=staff.subject, role=staff.role.value)
        return row

    def record_event(
        self, session: Session, staff: Principal, deferral_id: str, now: datetime
    ) -> Row:
        """For one that waits for an event: a department admin records that it happened."""
        if staff.role is not Role.DEPARTMENT_ADMIN or not staff.department:
            raise DeferralForbidden(
                "only a department admin of the department may record the event"
            )
        hold_log(session)
        row = self.departments(session, staff, deferral_id)
        if row.status is not DeferralStatus.ACTIVE or row.until_event is None:
            raise DeferralNotActive(f"deferral {deferral_id} is not in effect until an event")
        self.end(session, row, EndedBy.EVENT, now, by=staff.subject, role=staff.role.value)
        row.event_recorded_by = staff.subject
        return row

    def end_due(self, session: Session, now: datetime) -> int:
        """End every one in effect whose China day has come; how many ended."""
        model = self.model
        due = session.scalars(
            select(model.id)
            .where(model.status == DeferralStatus.ACTIVE, model.until <= china_day(now))
            .order_by(model.until, model.id)
        ).all()
        if not due:
            return 0
        hold_log(session)
        ended = 0
        for deferral_id in due:
            row = session.get(model, deferral_id, populate_existing=True)
            if row is None or row.status is not DeferralStatus.ACTIVE:
                continue  # ended by its event meanwhile
            self.end(session, row, EndedBy.DATE, now, by="-", role="hub")
            ended += 1
        return ended

    def departments(self, session: Session, staff: Principal, deferral_id: str) -> Row:
        """The deferral, if it is of *staff*'s department (else as if it did not exist)."""
        row = session.get(self.model, deferral_id, populate_existing=True)
        if row is None or row.department != staff.department:
            raise DeferralNotFound(f"your department has no deferral {deferral_id}")
        return row

    def end(
        self, session: Session, row: Row, how: EndedBy, now: datetime, *, by: str, role: str
    ) -> None:
        row.status = DeferralStatus.ENDED
        row.ended_at = now
        row.ended_by = how
        session.flush()
        self.log(session, row, "ended", now, by=by, role=role, ended_by=how.value)


def check_future(until: date | None, now: datetime) -> None:
    if until is not None and until <= china_day(now):
        raise DeferralEndInPast(
            f"the end date {until.isoformat()} is not after today ({china_day(now).isoformat()}, "
            "China time)",
            errors=[{"pointer": "/until", "detail": "must be after today, China time"}],
        )
