"""Standing deferrals (预先声明的延迟告知): notice deferred before the access happens.

A per-access deferral (:mod:`exchange.notice.service`) can only be asked for once the access is
in the log, so the citizen can see it until a second admin approves: useless for an
investigation. A standing deferral is declared first, for one or more of the department's
systems and one citizen, over a period; from its approval on, every access by those systems
about that citizen (a query, a verify, a subscription event, a relayed query: every audit entry
of kind ``query``, ``verify`` or ``event``) is hidden from the citizen from the moment it is
logged. Which accesses it covers is read from the log, never stored beside it
(:mod:`exchange.notice.reading`): those of the citizen's pseudonym by one of its systems, after
its ``approved`` entry (and before its ``ended`` entry, once ended), recorded on or after its
first day. An access before the approval is not covered: a pending deferral hides nothing.

1. **declare** (:func:`declare`): a department admin names the systems, the citizen (resident ID
   number), the reason kind, the reason, the legal basis, the first day and the end (a China day
   or an event). Checked in this order, nothing stored unless all pass: the role
   (``deferral_forbidden``), the legal basis (``deferral_no_legal_basis``), one end named
   (``malformed_request``), the period (``deferral_end_in_past`` for an end day not after today;
   ``deferral_period_invalid`` for a first day before today or not before the end day), the
   citizen (``invalid_subject_id``), the systems (``deferral_system_not_found``: each must be the
   department's). Stored ``requested``, with its ``requested`` entry.
2. **approve** or **refuse** (:func:`decide`): a second department admin, the same checks and
   codes as a per-access deferral (``deferral_approver_role``, ``deferral_not_found``,
   ``deferral_self_approval``, ``deferral_decided``, ``deferral_end_in_past``).
3. **end**: on its day by the ``notice.deferrals`` job (:func:`end_due`), or when an admin of
   the department records its event (:func:`record_event`). The accesses it covered are shown,
   marked 曾延迟告知.

Each step is a ``notice`` entry with subject ``-`` and system ``-``; it commits to the reason and
to the citizen's pseudonym only by salted digests (``reason_digest``, ``subject_digest``), so the
log names nobody and an auditor holding the row can check both.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import System
from exchange.agreements.workdays import china_day
from exchange.audit.lifecycle import hold_log
from exchange.audit.log import append_in
from exchange.errors import MalformedRequest
from exchange.notice.errors import (
    DeferralForbidden,
    DeferralNoLegalBasis,
    DeferralPeriodInvalid,
    DeferralSystemNotFound,
)
from exchange.notice.models import DeferralStatus, ReasonKind, StandingDeferral
from exchange.notice.service import instant, reason_digest, stated
from exchange.notice.steps import Steps, check_future
from exchange.security.identity import Principal, Role
from exchange.security.subjects import Pseudonyms
from schemas import AuditEntry, ProblemDetail

__all__ = [
    "SUBJECT_TAG",
    "StandingAsk",
    "decide",
    "declare",
    "end_due",
    "record_event",
    "subject_digest",
]

SUBJECT_TAG = b"tongban/notice/v1 subject\n"
"""``subject_digest`` = base64(SHA-256(SUBJECT_TAG ‖ salt bytes ‖ the pseudonym's ASCII))."""


@dataclass(frozen=True)
class StandingAsk:
    """What a department admin declares: defer, from *starts* (default today), the notice of
    every access by *systems* about the person *subject_id* (of *id_type*) until the China day
    *until*, or until *until_event* happens."""

    systems: tuple[str, ...]
    id_type: str
    subject_id: str
    reason_kind: ReasonKind
    reason: str
    legal_basis: str
    starts: date | None
    until: date | None
    until_event: str | None

    def __repr__(self) -> str:  # never print the person's ID number
        return f"StandingAsk(systems={self.systems!r}, subject_id='***')"


def subject_digest(salt_hex: str, pseudonym: str) -> str:
    """The digest the log holds of the citizen a standing deferral covers."""
    data = SUBJECT_TAG + bytes.fromhex(salt_hex) + pseudonym.encode("ascii")
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def declare(
    session: Session, staff: Principal, ask: StandingAsk, pseudonyms: Pseudonyms, now: datetime
) -> StandingDeferral:
    """Step 1 (the module docstring's checks, in order); caller commits."""
    if staff.role is not Role.DEPARTMENT_ADMIN or not staff.department:
        raise DeferralForbidden("only a department admin may declare a standing deferral")
    legal_basis = stated(ask.legal_basis)
    if legal_basis is None:
        raise DeferralNoLegalBasis(
            "name the legal basis that makes secrecy lawful (2 to 500 characters)",
            errors=[{"pointer": "/legal_basis", "detail": "required, 2 to 500 characters"}],
        )
    if (ask.until is None) == (ask.until_event is None):
        raise MalformedRequest("name either until (a China day) or until_event, not both")
    check_future(ask.until, now)
    starts = _checked_start(ask.starts, ask.until, now)
    subject = pseudonyms.of(ask.subject_id, id_type=ask.id_type, pointer="/subject/id")
    systems = _departments_systems(session, staff.department, ask.systems)
    hold_log(session)
    row = StandingDeferral(
        id=f"sdf-{uuid.uuid4()}",
        department=staff.department,
        systems=list(systems),
        subject=subject,
        reason_kind=ask.reason_kind,
        reason=ask.reason,
        reason_salt=os.urandom(16).hex(),
        legal_basis=legal_basis,
        starts=starts,
        until=ask.until,
        until_event=ask.until_event,
        status=DeferralStatus.REQUESTED,
        requested_by=staff.subject,
        requested_at=now,
    )
    session.add(row)
    session.flush()
    _log(session, row, "requested", now, by=staff.subject, role=staff.role.value)
    return row


def _steps() -> Steps[StandingDeferral]:
    return Steps(
        StandingDeferral,
        _log,
        approver_rule=(
            "a standing deferral is approved by a second department admin of its department"
        ),
        self_approval="a second person must approve the deferral you declared",
    )


def decide(
    session: Session, staff: Principal, deferral_id: str, *, approve: bool, now: datetime
) -> StandingDeferral:
    """Step 2: a second admin approves (from this commit on it hides) or refuses it."""
    return _steps().decide(session, staff, deferral_id, approve=approve, now=now)


def record_event(
    session: Session, staff: Principal, deferral_id: str, now: datetime
) -> StandingDeferral:
    """Step 3 for one that waits for an event: the department records that it happened."""
    return _steps().record_event(session, staff, deferral_id, now)


def end_due(session: Session, now: datetime) -> int:
    """Step 3 by date (the ``notice.deferrals`` job): end every standing deferral in effect
    whose day has come (China time); how many ended."""
    return _steps().end_due(session, now)


# -- helpers -------------------------------------------------------------------------------


def _checked_start(starts: date | None, until: date | None, now: datetime) -> date:
    today = china_day(now)
    first = today if starts is None else starts
    if first < today:
        raise DeferralPeriodInvalid(
            f"the first day {first.isoformat()} is before today ({today.isoformat()}, China "
            "time): a standing deferral covers accesses to come",
            errors=[ProblemDetail(pointer="/from", detail="today or later, China time")],
        )
    if until is not None and until <= first:
        raise DeferralPeriodInvalid(
            f"the end day {until.isoformat()} is not after the first day {first.isoformat()}",
            errors=[ProblemDetail(pointer="/until", detail="after the first day")],
        )
    return first


def _departments_systems(session: Session, department: str, asked: tuple[str, ...]) -> list[str]:
    names = sorted(set(asked))
    if not names:
        raise MalformedRequest("name at least one of your department's systems")
    own = set(
        session.scalars(
            select(System.id).where(System.id.in_(names), System.department_code == department)
        )
    )
    for i, name in enumerate(asked):
        if name not in own:
            raise DeferralSystemNotFound(
                f"your department has no system {name!r}",
                errors=[ProblemDetail(pointer=f"/systems/{i}", detail="not your department's")],
            )
    return names


def _log(
    session: Session,
    row: StandingDeferral,
    event: str,
    now: datetime,
    *,
    by: str,
    role: str,
    ended_by: str | None = None,
) -> None:
    """Append the *event* of *row* (a ``notice`` entry, subject and system ``-``) in the
    caller's transaction, which holds the log's head lock."""
    member: dict[str, Any] = {
        "type": "standing_deferral",
        "id": row.id,
        "systems": list(row.systems),
        "subject_digest": subject_digest(row.reason_salt, row.subject),
        "event": event,
        "status_after": row.status.value,
        "reason_kind": row.reason_kind.value,
        "legal_basis": row.legal_basis,
        "reason_digest": reason_digest(row.reason_salt, row.reason),
        "from": row.starts.isoformat(),
        "until": row.until.isoformat() if row.until is not None else None,
        "until_event": row.until_event,
        "by": by,
        "by_role": role,
    }
    if ended_by is not None:
        member["ended_by"] = ended_by
    entry = {
        "v": 1,
        "kind": "notice",
        "request_id": str(uuid.uuid4()),
        "at": instant(now),
        "system": "-",
        "department": row.department,
        "subject": "-",
        "purpose": "-",
        "outcome": event,
        "object": member,
    }
    append_in(session, cast("AuditEntry", entry))
