"""What the filer, the source department and the citizen see of correction requests.

Departments are named by their Chinese name (``departments.name``), instants are UTC RFC 3339
(the console shows them in China time), and a request is ``overdue`` while it is open after the
last working day of its clock. The resident ID number is shown only to the source department,
which needs it to find the record; nobody sees a value or a fingerprint's input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalogue.models import Department, Resource, System
from exchange.agreements.workdays import china_day
from exchange.audit.models import AuditRecord
from exchange.audit.reading import ACCESS_KINDS
from exchange.corrections.errors import CorrectionNotFound
from exchange.corrections.models import Correction, CorrectionNotice, CorrectionStatus, FiledBy
from exchange.corrections.service import field_of, utc_instant
from exchange.notice.reading import hidden_requests

__all__ = [
    "Viewer",
    "addressed_to",
    "citizen_corrections",
    "correction_view",
    "correction_views",
    "filed_by",
    "one_of",
    "released_about",
]

Viewer = Literal["provider", "filer", "citizen"]
Unseal = Callable[[Correction], str] | None


def _names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = session.execute(
        select(Department.code, Department.name).where(Department.code.in_(wanted))
    )
    return {code: name for code, name in rows}


def _system_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Systems by name, keyed ``system:<id>`` (department codes are the other keys)."""
    if not ids:
        return {}
    rows = session.execute(select(System.id, System.name).where(System.id.in_(sorted(ids))))
    return {f"system:{system}": name for system, name in rows if name}


def _notice_counts(
    session: Session, ids: Sequence[str], hidden: Collection[str] = ()
) -> dict[str, int]:
    """How many notices each request owed; not counting, when *hidden* names requests (a
    citizen's accesses whose notice is deferred, docs/notice.md), a system that received the
    field only in those."""
    if not ids:
        return {}
    if hidden:
        owed = session.execute(
            select(CorrectionNotice.correction_id, CorrectionNotice.received_in).where(
                CorrectionNotice.correction_id.in_(ids)
            )
        )
        counts: dict[str, int] = {}
        for correction_id, received_in in owed:
            if any(request not in hidden for request in received_in):
                counts[correction_id] = counts.get(correction_id, 0) + 1
        return counts
    rows = session.execute(
        select(CorrectionNotice.correction_id, func.count())
        .where(CorrectionNotice.correction_id.in_(ids))
        .group_by(CorrectionNotice.correction_id)
    )
    return {correction_id: count for correction_id, count in rows}


def correction_views(
    session: Session,
    rows: Sequence[Correction],
    now: datetime,
    viewer: Viewer,
    subject_of: Unseal = None,
) -> list[dict[str, Any]]:
    """The views of *rows* for *viewer* (``subject_of`` unseals the ID for the provider)."""
    names = _names(session, [r.provider for r in rows] + [r.filer_department or "" for r in rows])
    names.update(_system_names(session, {r.filer for r in rows if r.filed_by is FiledBy.SYSTEM}))
    hidden: frozenset[str] = frozenset()
    if viewer == "citizen" and rows:  # deferred notice: nothing may reveal those accesses
        hidden = hidden_requests(session, rows[0].subject)
        rows = [r for r in rows if r.cited_request not in hidden]
    notices = _notice_counts(session, [r.id for r in rows], hidden)
    return [_view(r, now, viewer, names, notices.get(r.id, 0), subject_of) for r in rows]


def correction_view(
    session: Session, row: Correction, now: datetime, viewer: Viewer, subject_of: Unseal = None
) -> dict[str, Any]:
    return correction_views(session, [row], now, viewer, subject_of)[0]


def _view(
    row: Correction,
    now: datetime,
    viewer: Viewer,
    names: dict[str, str],
    notices: int,
    subject_of: Unseal,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row.id,
        "attribute": row.attribute,
        "resource": row.resource,
        "provider": {"code": row.provider, "name": names.get(row.provider, row.provider)},
        "filed_by": row.filed_by.value,
        "filed_at": utc_instant(row.filed_at),
        "due_on": row.due_on.isoformat(),
        "overdue": row.status is CorrectionStatus.OPEN and china_day(now) > row.due_on,
        "status": row.status.value,
        "evidence": row.evidence,
        "cited_request": row.cited_request,
        "decided_at": utc_instant(row.decided_at) if row.decided_at else None,
        "reason": row.reason,
        "notices": notices,
    }
    if viewer != "citizen":
        department = row.filer_department
        view["filer"] = {
            "id": row.filer if row.filed_by is not FiledBy.CITIZEN else None,
            "name": names.get(f"system:{row.filer}") if row.filed_by is FiledBy.SYSTEM else None,
            "department": (
                {"code": department, "name": names.get(department, department)}
                if department
                else None
            ),
        }
        view["old_fingerprint"] = row.old_fingerprint
        view["new_fingerprint"] = row.new_fingerprint
    if viewer == "provider" and subject_of is not None:
        view["subject"] = {"id_type": "CN-RIC", "id": subject_of(row)}
    return view


def addressed_to(session: Session, department: str, *, open_only: bool) -> list[Correction]:
    """The requests addressed to a source department: open first, oldest due first."""
    query = select(Correction).where(Correction.provider == department)
    if open_only:
        query = query.where(Correction.status == CorrectionStatus.OPEN)
    query = query.order_by(
        (Correction.status != CorrectionStatus.OPEN), Correction.due_on, Correction.filed_at
    )
    return list(session.scalars(query.limit(500)))


def filed_by(
    session: Session, kind: FiledBy, filer: str, department: str | None
) -> list[Correction]:
    """The requests a system (or a department's staff) filed, newest first."""
    query = select(Correction).where(Correction.filed_by == kind)
    if kind is FiledBy.SYSTEM:
        query = query.where(Correction.filer == filer)
    else:
        query = query.where(Correction.filer_department == department)
    return list(session.scalars(query.order_by(Correction.filed_at.desc()).limit(500)))


def citizen_corrections(session: Session, subject: str) -> list[Correction]:
    """Every request about the citizen, whoever filed it, newest first."""
    query = select(Correction).where(Correction.subject == subject)
    return list(session.scalars(query.order_by(Correction.filed_at.desc()).limit(500)))


def one_of(rows: Iterable[Correction], correction_id: str) -> Correction:
    for row in rows:
        if row.id == correction_id:
            return row
    raise CorrectionNotFound(f"no correction request {correction_id}")


def released_about(
    session: Session, subject: str, hidden: Collection[int] = ()
) -> list[dict[str, Any]]:
    """Each field the hub released about the citizen (also through a predicate over it): its
    source department by name, how often and to how many systems, when last; not counting the
    accesses *hidden* while their notice is deferred (docs/notice.md)."""
    query = select(AuditRecord.system_id, AuditRecord.recorded_at, AuditRecord.entry).where(
        AuditRecord.subject == subject, AuditRecord.kind.in_(ACCESS_KINDS)
    )
    if hidden:
        query = query.where(AuditRecord.index.not_in(sorted(hidden)))
    rows = session.execute(query.order_by(AuditRecord.index))
    found: dict[str, dict[str, Any]] = {}
    systems: dict[str, set[str]] = {}
    for system, recorded_at, text in rows:
        for attribute, audited in json.loads(text).get("attributes", {}).items():
            if audited.get("outcome") != "released":
                continue
            field = field_of(attribute)
            item = found.setdefault(
                field, {"attribute": field, "resource": audited["resource"], "times": 0}
            )
            item["times"] += 1
            item["last_released_at"] = utc_instant(recorded_at)
            systems.setdefault(field, set()).add(system)
    providers = _providers(session, {item["resource"] for item in found.values()})
    names = _names(session, providers.values())
    for field, item in found.items():
        code = providers.get(item["resource"], "")
        item["source"] = {"code": code, "name": names.get(code, code)}
        item["systems"] = len(systems[field])
    return sorted(found.values(), key=lambda i: i["attribute"])


def _providers(session: Session, resources: set[str]) -> dict[str, str]:
    if not resources:
        return {}
    rows = session.execute(
        select(Resource.code, Resource.provider_code).where(Resource.code.in_(sorted(resources)))
    )
    return {code: provider for code, provider in rows}
