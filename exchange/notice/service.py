"""Deferred notice (延迟告知): an access hidden from its citizen while secrecy is lawful.

PIPL art. 35: a state organ processing personal information under its statutory duty informs
the person, unless the law requires secrecy or informing them would impede the duty (art. 18);
then the notice is deferred, never dropped. A deferral here is four-eyes:

1. **request** (:func:`request_deferral`): a department admin names an access of their
   department (an audit entry of kind ``query``, ``verify`` or ``event``, by its index), the
   reason kind, the reason (for auditors), the legal basis, and the end: a China day after
   today, or an event. Checked in this order, nothing stored unless all pass: the role
   (``deferral_forbidden``), the legal basis (``deferral_no_legal_basis``), one end named
   (``malformed_request``), the end date (``deferral_end_in_past``), the access
   (``deferral_access_not_found``: no entry, not an access, or another department's, one
   answer for all three), no deferral of it asked for or in effect (``deferral_exists``). The
   request is stored ``requested`` and its ``requested`` entry appended to the audit log in the
   same transaction. It hides nothing yet.
2. **approve** or **refuse** (:func:`decide_deferral`): a second department admin of the same
   department. Checked in this order: the role (``deferral_approver_role``), the deferral is
   the department's (``deferral_not_found``), the approver is not the requester
   (``deferral_self_approval``), it is still ``requested`` (``deferral_decided``), its end date
   is still after today (``deferral_end_in_past``). Approved, it is ``active``: from this
   commit the access is out of everything the citizen sees (:mod:`exchange.notice.reading`).
3. **end**: on its date, the ``notice.deferrals`` job (:func:`end_due`); or, for one that waits
   for an event, when a department admin of the department records it (:func:`record_event`).
   It is ``ended``, its ``ended`` entry is appended, and the access is back in the citizen's
   list with the mark that its notice was deferred, and why (the reason kind).

Every step is one audit entry of kind ``notice`` (``audit-entry.schema.json``) whose subject is
``-``: the deferral is never in the citizen's subject map, the access it defers is (by index).
The entry commits to the reason by a salted SHA-256 digest (``reason_digest``); the text stays
in ``notice_deferrals`` for auditors, who can recompute the digest. Every step takes the audit
log's head lock first, so two steps on one deferral (or two requests for one access) are one
after the other.
"""

from __future__ import annotations

import base64
import hashlib
import os
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit.lifecycle import hold_log
from exchange.audit.log import append_in
from exchange.audit.models import AuditRecord
from exchange.audit.reading import ACCESS_KINDS
from exchange.audit.vmap import mapped_subject
from exchange.errors import MalformedRequest
from exchange.notice.errors import (
    DeferralAccessNotFound,
    DeferralExists,
    DeferralForbidden,
    DeferralNoLegalBasis,
)
from exchange.notice.models import DeferralStatus, NoticeDeferral, ReasonKind
from exchange.notice.steps import Steps, check_future
from exchange.security.identity import Principal, Role
from schemas import AuditEntry

__all__ = [
    "DIGEST_TAG",
    "DeferralAsk",
    "check_future",
    "decide_deferral",
    "end_due",
    "instant",
    "reason_digest",
    "record_event",
    "request_deferral",
    "stated",
]

DIGEST_TAG = b"tongban/notice/v1 reason\n"
"""``reason_digest`` = base64(SHA-256(DIGEST_TAG ‖ salt bytes ‖ UTF-8 reason))."""


@dataclass(frozen=True)
class DeferralAsk:
    """What a department admin asks: defer the notice of the access at *access* (an audit
    index) until the China day *until*, or until *until_event* happens."""

    access: int
    reason_kind: ReasonKind
    reason: str
    legal_basis: str
    until: date | None
    until_event: str | None


def reason_digest(salt_hex: str, reason: str) -> str:
    """The digest the log holds of a deferral's reason (auditors recompute it)."""
    data = DIGEST_TAG + bytes.fromhex(salt_hex) + reason.encode("utf-8")
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def request_deferral(
    session: Session, staff: Principal, ask: DeferralAsk, now: datetime
) -> NoticeDeferral:
    """Step 1 (the module docstring's checks, in order); caller commits."""
    if staff.role is not Role.DEPARTMENT_ADMIN or not staff.department:
        raise DeferralForbidden("only a department admin may ask to defer a notice")
    legal_basis = stated(ask.legal_basis)
    if legal_basis is None:
        raise DeferralNoLegalBasis(
            "name the legal basis that makes secrecy lawful (2 to 500 characters)",
            errors=[{"pointer": "/legal_basis", "detail": "required, 2 to 500 characters"}],
        )
    if (ask.until is None) == (ask.until_event is None):
        raise MalformedRequest("name either until (a China day) or until_event, not both")
    check_future(ask.until, now)
    hold_log(session)
    record = session.get(AuditRecord, ask.access)
    if (
        record is None
        or record.kind not in ACCESS_KINDS
        or mapped_subject(record.subject) is None
        or record.department != staff.department
    ):
        raise DeferralAccessNotFound(f"your department has no access at audit index {ask.access}")
    if _open_for(session, ask.access) is not None:
        raise DeferralExists(f"the notice of access {ask.access} is already deferred or asked for")
    row = NoticeDeferral(
        id=f"dfr-{uuid.uuid4()}",
        access_index=record.index,
        subject=record.subject,
        system_id=record.system_id,
        department=record.department,
        reason_kind=ask.reason_kind,
        reason=ask.reason,
        reason_salt=os.urandom(16).hex(),
        legal_basis=legal_basis,
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


def _steps() -> Steps[NoticeDeferral]:
    return Steps(
        NoticeDeferral,
        _log,
        approver_rule=(
            "a deferral is approved by a second department admin of the access's department"
        ),
        self_approval="a second person must approve the deferral you asked for",
    )


def decide_deferral(
    session: Session, staff: Principal, deferral_id: str, *, approve: bool, now: datetime
) -> NoticeDeferral:
    """Step 2: the second person approves (the deferral takes effect) or refuses it."""
    return _steps().decide(session, staff, deferral_id, approve=approve, now=now)


def record_event(
    session: Session, staff: Principal, deferral_id: str, now: datetime
) -> NoticeDeferral:
    """Step 3 for a deferral until an event: the department records that it happened."""
    return _steps().record_event(session, staff, deferral_id, now)


def end_due(session: Session, now: datetime) -> int:
    """Step 3 by date (the ``notice.deferrals`` job): end every deferral in effect whose day
    has come (China time); how many ended."""
    return _steps().end_due(session, now)


# -- helpers -------------------------------------------------------------------------------


def stated(legal_basis: str | None) -> str | None:
    text = unicodedata.normalize("NFC", legal_basis or "").strip()
    return text if 2 <= len(text) <= 500 else None


def _open_for(session: Session, access: int) -> NoticeDeferral | None:
    return session.scalars(
        select(NoticeDeferral).where(
            NoticeDeferral.access_index == access,
            NoticeDeferral.status.in_((DeferralStatus.REQUESTED, DeferralStatus.ACTIVE)),
        )
    ).first()


def _log(
    session: Session,
    row: NoticeDeferral,
    event: str,
    now: datetime,
    *,
    by: str,
    role: str,
    ended_by: str | None = None,
) -> None:
    """Append the *event* of *row* (a ``notice`` entry, subject ``-``) in the caller's
    transaction, which holds the log's head lock."""
    member: dict[str, Any] = {
        "type": "deferral",
        "id": row.id,
        "access": row.access_index,
        "event": event,
        "status_after": row.status.value,
        "reason_kind": row.reason_kind.value,
        "legal_basis": row.legal_basis,
        "reason_digest": reason_digest(row.reason_salt, row.reason),
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
        "system": row.system_id,
        "department": row.department,
        "subject": "-",
        "purpose": "-",
        "outcome": event,
        "object": member,
    }
    append_in(session, cast("AuditEntry", entry))


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
