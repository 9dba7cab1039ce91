"""What the citizen, the department and the auditor see of deferrals.

- **The citizen** sees nothing of a deferral in effect: :func:`hidden_accesses` names the
  accesses their list, their counts, their proofs and their completeness check leave out. A
  deferral hides its access only while ``active`` *and* the audit log holds its ``approved``
  entry: a row written into ``notice_deferrals`` by hand, past the service, hides nothing. Once
  it has ended, :func:`deferred_marks` gives each shown access the mark that its notice was
  deferred: the reason kind, the legal basis, from when to when; never the reason's text, who
  asked or who approved.
- **The department** sees its own deferrals in full (:func:`deferral_views`).
- **The auditor** sees every deferral in full, each with its ``notice`` entries from the log and
  :func:`deferral_checks`: two different people, both department admins of the access's
  department, the requester first; a legal basis; the reason's digest in every entry matching
  the stored reason; the access it names an access.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from catalogue.models import Department, System
from exchange.agreements.workdays import CHINA_TZ
from exchange.audit.models import AuditRecord
from exchange.audit.reading import ACCESS_KINDS
from exchange.notice.models import DeferralStatus, NoticeDeferral, StandingDeferral
from exchange.notice.service import reason_digest

__all__ = [
    "covered",
    "deferral_checks",
    "deferral_views",
    "deferred_marks",
    "hidden_accesses",
    "hidden_requests",
    "standing_span",
    "without_deferred_uses",
]


def _approved_in_log() -> Any:
    return exists().where(
        AuditRecord.object_id == NoticeDeferral.id,
        AuditRecord.kind == "notice",
        AuditRecord.outcome == "approved",
    )


def hidden_accesses(session: Session, subject: str) -> frozenset[int]:
    """The indexes of *subject*'s accesses whose notice is deferred now: each approved in the
    log and not ended, per access or by a standing deferral covering it (:func:`covered`);
    what nothing the citizen reads may show."""
    rows = session.scalars(
        select(NoticeDeferral.access_index).where(
            NoticeDeferral.subject == subject,
            NoticeDeferral.status == DeferralStatus.ACTIVE,
            _approved_in_log(),
        )
    )
    standing = [
        index
        for row, span in _standing_spans(session, subject, (DeferralStatus.ACTIVE,))
        for index in covered(session, row, span)
    ]
    return frozenset(rows) | frozenset(standing)


def hidden_requests(session: Session, subject: str) -> frozenset[str]:
    """The request ids of :func:`hidden_accesses` (a citizen's objection must not learn of
    them either)."""
    hidden = hidden_accesses(session, subject)
    if not hidden:
        return frozenset()
    rows = session.scalars(
        select(AuditRecord.request_id).where(AuditRecord.index.in_(sorted(hidden)))
    )
    return frozenset(rows)


def deferred_marks(session: Session, subject: str, indexes: Collection[int]) -> dict[int, Any]:
    """The mark of each of *indexes* (shown accesses of *subject*) whose notice was deferred
    and has ended: ``{reason_kind, legal_basis, deferred_at, shown_since, ended_by}``."""
    if not indexes:
        return {}
    rows = session.scalars(
        select(NoticeDeferral)
        .where(
            NoticeDeferral.subject == subject,
            NoticeDeferral.status == DeferralStatus.ENDED,
            NoticeDeferral.access_index.in_(list(indexes)),
        )
        .order_by(NoticeDeferral.ended_at)
    )
    marks: dict[int, Any] = {row.access_index: _mark(row) for row in rows}
    wanted = set(indexes)
    for standing, span in _standing_spans(session, subject, (DeferralStatus.ENDED,)):
        for index in wanted.intersection(covered(session, standing, span)):
            marks.setdefault(index, _mark(standing))
    return marks


def _mark(row: NoticeDeferral | StandingDeferral) -> dict[str, Any]:
    return {
        "reason_kind": row.reason_kind.value,
        "legal_basis": row.legal_basis,
        "deferred_at": _instant(row.decided_at),
        "shown_since": _instant(row.ended_at),
        "ended_by": row.ended_by.value if row.ended_by is not None else None,
    }


def covered(session: Session, row: StandingDeferral, span: tuple[int, int | None]) -> list[int]:
    """The accesses *row* (a standing deferral) covers, read from the log: its citizen's, by
    one of its systems, after its ``approved`` entry and before its ``ended`` one (*span*),
    recorded on or after its first day (China time)."""
    after, before = span
    first = datetime.combine(row.starts, time(0), CHINA_TZ).astimezone(UTC)
    query = select(AuditRecord.index).where(
        AuditRecord.subject == row.subject,
        AuditRecord.kind.in_(ACCESS_KINDS),
        AuditRecord.system_id.in_(list(row.systems)),
        AuditRecord.index > after,
        AuditRecord.recorded_at >= first,
    )
    if before is not None:
        query = query.where(AuditRecord.index < before)
    return list(session.scalars(query.order_by(AuditRecord.index)))


def _standing_spans(
    session: Session, subject: str, statuses: tuple[DeferralStatus, ...]
) -> list[tuple[StandingDeferral, tuple[int, int | None]]]:
    """*subject*'s standing deferrals with one of *statuses* that the log shows approved, each
    with the indexes of its ``approved`` and (if any) ``ended`` entries."""
    rows = list(
        session.scalars(
            select(StandingDeferral).where(
                StandingDeferral.subject == subject, StandingDeferral.status.in_(statuses)
            )
        )
    )
    found = []
    for row in rows:
        span = standing_span(session, row.id)
        if span is not None:
            found.append((row, span))
    return found


def standing_span(session: Session, deferral_id: str) -> tuple[int, int | None] | None:
    """The log indexes of a standing deferral's ``approved`` and ``ended`` entries; ``None``
    when the log holds no approval (a row written past the service hides nothing)."""
    events: dict[str, int] = {
        outcome: index
        for outcome, index in session.execute(
            select(AuditRecord.outcome, AuditRecord.index).where(
                AuditRecord.object_id == deferral_id,
                AuditRecord.kind == "notice",
                AuditRecord.outcome.in_(("approved", "ended")),
            )
        )
    }
    if "approved" not in events:
        return None
    return events["approved"], events.get("ended")


def deferral_views(
    session: Session,
    *,
    department: str | None = None,
    status: str | None = None,
    deferral_id: str | None = None,
) -> list[dict[str, Any]]:
    """Every deferral (of *department*, with *status*, or the one *deferral_id*, when given),
    newest first, each with its ``notice`` entries from the log and the auditor's checks."""
    query = select(NoticeDeferral).order_by(NoticeDeferral.requested_at.desc(), NoticeDeferral.id)
    if deferral_id is not None:
        query = query.where(NoticeDeferral.id == deferral_id)
    if department is not None:
        query = query.where(NoticeDeferral.department == department)
    if status is not None:
        query = query.where(NoticeDeferral.status == DeferralStatus(status))
    rows = list(session.scalars(query.limit(500)))
    entries = _entries(session, [row.id for row in rows])
    return [_view(session, row, entries.get(row.id, [])) for row in rows]


def deferral_checks(
    session: Session, row: NoticeDeferral, entries: Iterable[AuditRecord]
) -> dict[str, bool]:
    """What an auditor checks of one deferral against its entries in the log (each ``True``
    when it holds; a refused or pending deferral has no approval to check)."""
    parsed = [json.loads(e.entry)["object"] for e in entries]
    by_event = {o["event"]: o for o in parsed}
    requested, approved = by_event.get("requested"), by_event.get("approved")
    access = session.get(AuditRecord, row.access_index)
    digest = reason_digest(row.reason_salt, row.reason)
    in_effect = row.status in (DeferralStatus.ACTIVE, DeferralStatus.ENDED)
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
        "legal_basis": all(len(str(o.get("legal_basis", "")).strip()) >= 2 for o in parsed)
        and bool(parsed),
        "reason_digest": all(o.get("reason_digest") == digest for o in parsed) and bool(parsed),
        "access": access is not None
        and access.kind in ACCESS_KINDS
        and access.subject == row.subject
        and access.department == row.department,
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


def _view(session: Session, row: NoticeDeferral, entries: list[AuditRecord]) -> dict[str, Any]:
    checks = deferral_checks(session, row, entries)
    department = session.get(Department, row.department)
    system = session.get(System, row.system_id)
    return {
        "id": row.id,
        "access": row.access_index,
        "system": row.system_id,
        "system_name": system.name if system is not None else None,
        "department": row.department,
        "department_name": department.name if department is not None else None,
        "status": row.status.value,
        "reason_kind": row.reason_kind.value,
        "reason": row.reason,
        "reason_salt": row.reason_salt,
        "legal_basis": row.legal_basis,
        "until": row.until.isoformat() if row.until is not None else None,
        "until_event": row.until_event,
        "requested_by": row.requested_by,
        "requested_at": _instant(row.requested_at),
        "decided_by": row.decided_by,
        "decided_at": _instant(row.decided_at),
        "ended_at": _instant(row.ended_at),
        "ended_by": row.ended_by.value if row.ended_by is not None else None,
        "entries": [{"index": e.index, "outcome": e.outcome, "entry": e.entry} for e in entries],
        "checks": checks,
        "checks_pass": all(checks.values()),
    }


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def without_deferred_uses(
    session: Session, subject: str, views: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """*subject*'s consent views (``exchange.consent.reading.consent_views``) as if no access
    still deferred had used them: its ``used`` events out, ``use_count`` and ``last_used_at``
    counted from the others, and a consent used up only by such an access shown ``given`` (or
    ``expired``, by its time). A consent must not tell its citizen of an access whose notice is
    deferred; once the deferral ends, the use shows as it was recorded."""
    hidden = hidden_requests(session, subject)
    if not hidden:
        return views
    return [_without(view, hidden, now) for view in views]


def _without(view: dict[str, Any], hidden: frozenset[str], now: datetime) -> dict[str, Any]:
    events = view.get("events") or []
    kept = [
        e
        for e in events
        if not (e.get("event") == "used" and (e.get("detail") or {}).get("request_id") in hidden)
    ]
    removed = len(events) - len(kept)
    if not removed:
        return view
    uses = [e["at"] for e in kept if e.get("event") == "used"]
    shown = {
        **view,
        "events": kept,
        "use_count": max(0, int(view.get("use_count") or 0) - removed),
        "last_used_at": max(uses) if uses else None,
    }
    limit = view.get("max_uses")
    if view.get("status") == "used" and (limit is None or shown["use_count"] < limit):
        expires = view.get("expires_at")
        past = expires is not None and datetime.fromisoformat(expires) <= now
        shown["status"] = "expired" if past else "given"
    return shown
