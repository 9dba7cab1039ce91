"""The lifecycle's events as entries of the audit log (kinds ``catalogue`` and ``demand``,
``audit-entry.schema.json``), appended in the caller's transaction with the row change they
record: both commit or neither does. The caller takes the log's head lock first
(:func:`exchange.audit.lifecycle.hold_log`), before any row lock, as every lifecycle does. An
entry is about no one (``subject`` ``-``) and carries no free text: reasons, notes and
assessments stay in the hub's tables, an assessment committed to by its SHA-256.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit.lifecycle import NO_SUBJECT, logged_at
from exchange.audit.log import append_in
from exchange.audit.models import AuditRecord
from exchange.audit.sink import Receipt
from schemas import AuditEntry

__all__ = ["Actor", "LoggedStep", "log_catalogue_event", "log_demand_event", "steps_of"]


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in staff member (id, role, department) or the operator's set-up."""

    subject: str
    role: str
    department: str | None


def log_catalogue_event(
    session: Session,
    actor: Actor,
    *,
    type_: str,
    object_id: str,
    resource: str,
    provider: str,
    event: str,
    status_after: str,
    **extra: Any,
) -> Receipt:
    """Append a ``catalogue`` entry; *extra* holds the optional members (digest, assessment,
    version, due_on)."""
    member = {
        "type": type_,
        "id": object_id,
        "resource": resource,
        "provider": provider,
        "event": event,
        "status_after": status_after,
        **_optional(extra),
        "by": actor.subject[:128],
        "by_role": actor.role,
    }
    return _append(session, "catalogue", actor, event, member)


def log_demand_event(
    session: Session,
    actor: Actor,
    *,
    object_id: str,
    requester: str,
    provider: str | None,
    event: str,
    status_after: str,
    **extra: Any,
) -> Receipt:
    """Append a ``demand`` entry; *extra* holds the optional members (resource, due_on)."""
    member = {
        "type": "demand",
        "id": object_id,
        "requester": requester,
        "provider": provider,
        "event": event,
        "status_after": status_after,
        **_optional(extra),
        "by": actor.subject[:128],
        "by_role": actor.role,
    }
    return _append(session, "demand", actor, event, member)


def _optional(extra: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in extra.items():
        if value is None:
            continue
        out[key] = value.isoformat() if isinstance(value, date) else value
    return out


def _append(
    session: Session, kind: str, actor: Actor, event: str, member: dict[str, Any]
) -> Receipt:
    entry = {
        "v": 1,
        "kind": kind,
        "request_id": str(uuid.uuid4()),
        "at": logged_at(),
        "system": NO_SUBJECT,
        "department": actor.department or NO_SUBJECT,
        "subject": NO_SUBJECT,
        "purpose": NO_SUBJECT,
        "outcome": event,
        "object": member,
    }
    return append_in(session, cast("AuditEntry", entry))


@dataclass(frozen=True)
class LoggedStep:
    """One logged event of a submission, duty or request, as the log holds it."""

    index: int
    at: str
    event: str
    status_after: str
    department: str
    by_role: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "at": self.at,
            "event": self.event,
            "status_after": self.status_after,
            "department": self.department,
            "by_role": self.by_role,
        }


def steps_of(session: Session, object_id: str) -> list[LoggedStep]:
    """Every logged event of *object_id*, oldest first (read from the entries' own bytes)."""
    rows = session.execute(
        select(AuditRecord.index, AuditRecord.entry)
        .where(AuditRecord.object_id == object_id)
        .order_by(AuditRecord.index)
    )
    steps: list[LoggedStep] = []
    for index, text in rows:
        entry = json.loads(text)
        member = entry["object"]
        steps.append(
            LoggedStep(
                index,
                str(entry["at"]),
                str(member["event"]),
                str(member["status_after"]),
                str(entry["department"]),
                str(member["by_role"]),
            )
        )
    return steps
