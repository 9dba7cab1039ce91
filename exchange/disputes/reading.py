"""What the departments and the data authority see of disputes.

Departments are named by their Chinese name (``departments.name``), instants are UTC RFC 3339
(the console shows them in China time), and the clock of the level a dispute is at is
``overdue`` while the dispute is open after the level's last working day. A department sees the
disputes it is party to; the authority sees every dispute. Each view says what the viewer may do
next (``may``), so a console shows only the buttons that will be accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, or_, select
from sqlalchemy.orm import Session

from catalogue.models import Department
from exchange.agreements.workdays import china_day
from exchange.disputes.models import Dispute, DisputeLevel, DisputeStatus, DisputeStep
from exchange.disputes.service import POSITION_ACTIONS, DisputeActor, visible

__all__ = ["dispute_view", "dispute_views", "disputes_of", "one_of"]

LIST_LIMIT = 500


def disputes_of(
    session: Session, actor: DisputeActor, *, open_only: bool = False
) -> Sequence[Dispute]:
    """The disputes *actor* may see, open first, newest first within."""
    query = select(Dispute)
    if not actor.is_authority:
        query = query.where(
            or_(Dispute.claimant == actor.department, Dispute.respondent == actor.department)
        )
    if open_only:
        query = query.where(Dispute.status == DisputeStatus.OPEN)
    still_open = case((Dispute.status == DisputeStatus.OPEN, 0), else_=1)
    query = query.order_by(still_open, Dispute.opened_at.desc(), Dispute.id).limit(LIST_LIMIT)
    return session.scalars(query).all()


def one_of(session: Session, actor: DisputeActor, dispute_id: str) -> Dispute:
    return visible(session, actor, dispute_id)


def dispute_views(
    session: Session,
    rows: Sequence[Dispute],
    actor: DisputeActor,
    now: datetime,
    *,
    with_steps: bool = False,
) -> list[dict[str, Any]]:
    names = _names(session, [r.claimant for r in rows] + [r.respondent for r in rows])
    steps = _steps(session, [r.id for r in rows])
    return [_view(r, actor, now, names, steps.get(r.id, []), with_steps) for r in rows]


def dispute_view(
    session: Session, row: Dispute, actor: DisputeActor, now: datetime
) -> dict[str, Any]:
    return dispute_views(session, [row], actor, now, with_steps=True)[0]


def _view(
    row: Dispute,
    actor: DisputeActor,
    now: datetime,
    names: dict[str, str],
    steps: list[DisputeStep],
    with_steps: bool,
) -> dict[str, Any]:
    is_open = row.status is DisputeStatus.OPEN
    view: dict[str, Any] = {
        "id": row.id,
        "matter": {"kind": row.matter_kind.value, "id": row.matter_id},
        "claimant": {"code": row.claimant, "name": names.get(row.claimant, row.claimant)},
        "respondent": {"code": row.respondent, "name": names.get(row.respondent, row.respondent)},
        "statement": row.statement,
        "status": row.status.value,
        "level": row.level.value,
        "opened_at": _instant(row.opened_at),
        "clock": {
            "level": row.level.value,
            "since": _instant(row.level_since),
            "due_on": row.due_on.isoformat(),
            "overdue": is_open and china_day(now) > row.due_on,
            "running": is_open,
        },
        "settlement": None
        if row.settlement is None
        else {
            "terms": row.settlement,
            "by": row.settlement_by,
            "at": _instant(row.settlement_at),
        },
        "outcome": row.outcome,
        "reasons": row.reasons,
        "outcome_digest": row.outcome_digest,
        "closed_at": _instant(row.closed_at),
        "may": _may(row, actor, now, steps) if is_open else [],
    }
    if with_steps:
        view["steps"] = [_step(step) for step in steps]
    return view


def _may(row: Dispute, actor: DisputeActor, now: datetime, steps: list[DisputeStep]) -> list[str]:
    """The steps *actor* may take next on an open dispute."""
    if actor.is_authority:
        return {
            DisputeLevel.NEGOTIATION: [],
            DisputeLevel.AUTHORITY: ["decide", "escalate"],
            DisputeLevel.SUPERIOR: ["outcome", "escalate"],
            DisputeLevel.GOVERNMENT: ["outcome"],
        }[row.level]
    if row.level is DisputeLevel.AUTHORITY:
        return ["position"]
    if row.level is not DisputeLevel.NEGOTIATION:
        return []
    may = ["position", "settlement"]
    if row.settlement is not None and row.settlement_by != actor.department:
        may.append("confirm")
    spoke = {s.actor_department for s in steps if s.action in POSITION_ACTIONS}
    if china_day(now) > row.due_on or {row.claimant, row.respondent} <= spoke:
        may.append("escalate")
    return may


def _step(step: DisputeStep) -> dict[str, Any]:
    return {
        "at": _instant(step.at),
        "level": step.level.value,
        "action": step.action,
        "by": step.actor,
        "by_role": step.actor_role,
        "department": step.actor_department,
        "text": step.text,
        "document": None
        if step.document_digest is None
        else {"name": step.document_name, "sha256": step.document_digest},
    }


def _steps(session: Session, ids: Iterable[str]) -> dict[str, list[DisputeStep]]:
    wanted = sorted(set(ids))
    found: dict[str, list[DisputeStep]] = {}
    if not wanted:
        return found
    rows = session.scalars(
        select(DisputeStep).where(DisputeStep.dispute_id.in_(wanted)).order_by(DisputeStep.id)
    )
    for step in rows:
        found.setdefault(step.dispute_id, []).append(step)
    return found


def _names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = session.execute(
        select(Department.code, Department.name).where(Department.code.in_(wanted))
    )
    return {code: name for code, name in rows}


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
