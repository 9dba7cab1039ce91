"""What the department and the auditor see of standing deferrals (docs/notice.md).

:func:`standing_views`: each standing deferral in full (its reason, who declared, who approved),
with its ``notice`` entries from the log, the accesses it covers (read from the log,
:func:`exchange.notice.reading.covered`) and :func:`standing_checks`: two different department
admins, the requester first; a legal basis; the reason's and the citizen's digests in every
entry matching the row; every system the department's and the entries naming the row's systems;
its ``ended`` entry once ended. The citizen's view leaves out what it covers while in effect
(:func:`exchange.notice.reading.hidden_accesses`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import Department, System
from exchange.audit.models import AuditRecord
from exchange.notice.models import DeferralStatus, StandingDeferral
from exchange.notice.reading import covered, standing_span
from exchange.notice.service import instant, reason_digest
from exchange.notice.standing import subject_digest

__all__ = ["standing_checks", "standing_views"]


def standing_views(
    session: Session,
    *,
    department: str | None = None,
    status: str | None = None,
    deferral_id: str | None = None,
) -> list[dict[str, Any]]:
    """Every standing deferral (of *department*, with *status*, or the one *deferral_id*),
    newest first, each with its entries, the accesses it covers and the checks."""
    query = select(StandingDeferral).order_by(
        StandingDeferral.requested_at.desc(), StandingDeferral.id
    )
    if deferral_id is not None:
        query = query.where(StandingDeferral.id == deferral_id)
    if department is not None:
        query = query.where(StandingDeferral.department == department)
    if status is not None:
        query = query.where(StandingDeferral.status == DeferralStatus(status))
    rows = list(session.scalars(query.limit(500)))
    entries = _entries(session, [row.id for row in rows])
    return [_view(session, row, entries.get(row.id, [])) for row in rows]


def standing_checks(
    session: Session, row: StandingDeferral, entries: Iterable[AuditRecord]
) -> dict[str, bool]:
    """What an auditor checks of one standing deferral against its entries in the log."""
    parsed = [json.loads(e.entry)["object"] for e in entries]
    by_event = {o["event"]: o for o in parsed}
    requested, approved = by_event.get("requested"), by_event.get("approved")
    in_effect = row.status in (DeferralStatus.ACTIVE, DeferralStatus.ENDED)
    own = set(
        session.scalars(
            select(System.id).where(
                System.id.in_(list(row.systems)), System.department_code == row.department
            )
        )
    )
    reason = reason_digest(row.reason_salt, row.reason)
    subject = subject_digest(row.reason_salt, row.subject)
    return {
        "requested_in_log": requested is not None,
        "approved_in_log": approved is not None or not in_effect,
        "two_people": not in_effect
        or (
            requested is not None
            and approved is not None
            and requested["by"] != approved["by"]
            and requested["by_role"] == approved["by_role"] == "department_admin"
        ),
        "legal_basis": bool(parsed)
        and all(len(str(o.get("legal_basis", "")).strip()) >= 2 for o in parsed),
        "reason_digest": bool(parsed) and all(o.get("reason_digest") == reason for o in parsed),
        "subject_digest": bool(parsed) and all(o.get("subject_digest") == subject for o in parsed),
        "systems": bool(row.systems)
        and own == set(row.systems)
        and all(o.get("systems") == list(row.systems) for o in parsed),
        "ended_in_log": row.status is not DeferralStatus.ENDED or "ended" in by_event,
    }


def _entries(session: Session, ids: list[str]) -> dict[str, list[AuditRecord]]:
    found: dict[str, list[AuditRecord]] = {}
    if not ids:
        return found
    rows = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.object_id.in_(ids), AuditRecord.kind == "notice")
        .order_by(AuditRecord.index)
    )
    for record in rows:
        if record.object_id is not None:
            found.setdefault(record.object_id, []).append(record)
    return found


def _view(session: Session, row: StandingDeferral, entries: list[AuditRecord]) -> dict[str, Any]:
    checks = standing_checks(session, row, entries)
    department = session.get(Department, row.department)
    names: dict[str, str | None] = {
        k: v
        for k, v in session.execute(
            select(System.id, System.name).where(System.id.in_(list(row.systems)))
        )
    }
    span = standing_span(session, row.id)
    return {
        "id": row.id,
        "systems": [{"id": s, "name": names.get(s)} for s in row.systems],
        "department": row.department,
        "department_name": department.name if department is not None else None,
        "subject": row.subject,
        "status": row.status.value,
        "reason_kind": row.reason_kind.value,
        "reason": row.reason,
        "reason_salt": row.reason_salt,
        "legal_basis": row.legal_basis,
        "from": row.starts.isoformat(),
        "until": row.until.isoformat() if row.until is not None else None,
        "until_event": row.until_event,
        "requested_by": row.requested_by,
        "requested_at": instant(row.requested_at),
        "decided_by": row.decided_by,
        "decided_at": instant(row.decided_at) if row.decided_at is not None else None,
        "ended_at": instant(row.ended_at) if row.ended_at is not None else None,
        "ended_by": row.ended_by.value if row.ended_by is not None else None,
        "accesses": [] if span is None else covered(session, row, span),
        "entries": [{"index": e.index, "outcome": e.outcome, "entry": e.entry} for e in entries],
        "checks": checks,
        "checks_pass": all(checks.values()),
    }
