"""Disputes between departments over a sharing matter (《政务数据共享条例》 art. 28), on the clock.

A dispute climbs four levels, each with its own clock in working days (State Council calendar,
China time; settings ``dispute_*_working_days``), counted from the day it reached the level:

1. **negotiation** (协商) between the two departments: each records positions; either proposes a
   settlement, which the other confirms (``settled``);
2. **the data authority** (共享工作主管部门): reached when either department escalates after
   negotiation was tried (a position of each on record) or its clock ran out; the authority
   records its decision with reasons (``decided``) or, coordination failing, refers it on;
3. **the common superior** (上级共同主管部门) and 4. **the government at that level**
   (本级人民政府): outside the hub's users, so the authority records the referral (with the
   SHA-256 of the referral document) and the outcome (with the SHA-256 of the decision document,
   ``resolved``).

Every step, in this order (nothing is stored unless every check passes): the caller may take
it (a party's department for the departments' steps, the data authority for its own); the
dispute is open; the step belongs to its level; an escalation goes to the next level only and
states its reasons. Then the row changes, a ``dispute_steps`` row records the step and an audit
entry of kind ``dispute`` is appended, all in one transaction. The entry carries no free text:
the statement, positions, settlement, reasons and outcome stay in the hub's tables, committed to
by their SHA-256 (``text_digest``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange.agreements.workdays import add_working_days, china_day, official_calendar
from exchange.audit.lifecycle import NO_SUBJECT, hold_log, logged_at
from exchange.audit.log import append_in
from exchange.db import unit_of_work
from exchange.disputes.errors import (
    DisputeAlreadyOpen,
    DisputeClosed,
    DisputeLevelSkipped,
    DisputeNegotiationNotTried,
    DisputeNoSettlement,
    DisputeNotFound,
    DisputeOwnSettlement,
    DisputeReasonsRequired,
    DisputeTextEmpty,
    DisputeWithSelf,
    DisputeWrongLevel,
)
from exchange.disputes.matters import check_matter
from exchange.disputes.models import (
    LEVELS,
    Dispute,
    DisputeLevel,
    DisputeStatus,
    DisputeStep,
    MatterKind,
)
from exchange.errors import Forbidden
from schemas import AuditEntry

__all__ = ["AUTHORITY", "DisputeActor", "DisputeClocks", "DisputeDesk", "Document"]

AUTHORITY = "data_authority"
"""The role of the data authority's staff (``exchange.security.identity.Role``)."""
POSITION_ACTIONS = frozenset({"opened", "position"})


@dataclass(frozen=True)
class DisputeActor:
    """Who takes a step: a department's staff member (with their department) or the data
    authority's (department ``None``)."""

    subject: str
    role: str
    department: str | None

    @property
    def is_authority(self) -> bool:
        return self.role == AUTHORITY


@dataclass(frozen=True)
class Document:
    """A document outside the hub (a referral, a decision of the superior or the government):
    its name and the SHA-256 (hex) of its bytes."""

    name: str
    sha256: str


@dataclass(frozen=True)
class DisputeClocks:
    """Working days each level has (the regulation sets none; docs/lifecycle.md)."""

    negotiation: int = 10
    authority: int = 10
    superior: int = 20
    government: int = 20

    def days(self, level: DisputeLevel) -> int:
        return cast(int, getattr(self, level.value))


class DisputeDesk:
    """The dispute workflow over the hub's database."""

    def __init__(self, sessions: sessionmaker[Session], clocks: DisputeClocks) -> None:
        self._sessions = sessions
        self.clocks = clocks

    def due_on(self, level: DisputeLevel, since: datetime) -> date:
        """The last working day of *level*'s clock when it started at *since*."""
        days = self.clocks.days(level)
        return add_working_days(china_day(since), days, official_calendar())

    # -- the departments ---------------------------------------------------------------------

    def open(
        self,
        actor: DisputeActor,
        respondent: str,
        matter: tuple[MatterKind, str],
        statement: str,
        now: datetime,
    ) -> Dispute:
        """A department opens a dispute with *respondent* over *matter*, with its statement."""
        claimant = _department_of(actor)
        if respondent == claimant:
            raise DisputeWithSelf("a department cannot open a dispute with itself")
        kind, matter_id = matter
        _require_text(statement, "statement")
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)
            check_matter(session, kind, matter_id, claimant, respondent)
            _no_open_dispute(session, kind, matter_id, claimant, respondent)
            row = Dispute(
                id=f"dsp-{uuid.uuid4()}",
                claimant=claimant,
                respondent=respondent,
                matter_kind=kind,
                matter_id=matter_id,
                statement=statement,
                status=DisputeStatus.OPEN,
                level=DisputeLevel.NEGOTIATION,
                opened_at=now,
                opened_by=actor.subject,
                level_since=now,
                due_on=self.due_on(DisputeLevel.NEGOTIATION, now),
            )
            session.add(row)
            session.flush()
            _record(session, row, actor, "opened", now, text=statement)
            session.expunge(row)
        return row

    def position(self, actor: DisputeActor, dispute_id: str, text: str, now: datetime) -> Dispute:
        """A party records its position (negotiation, or a submission to the authority)."""
        _require_text(text, "position")
        with self._step(actor, dispute_id) as (session, row):
            _at(row, DisputeLevel.NEGOTIATION, DisputeLevel.AUTHORITY, step="a position")
            _record(session, row, actor, "position", now, text=text)
        return row

    def propose_settlement(
        self, actor: DisputeActor, dispute_id: str, terms: str, now: datetime
    ) -> Dispute:
        """A party proposes the agreed settlement; the other confirms it."""
        _require_text(terms, "settlement")
        with self._step(actor, dispute_id) as (session, row):
            _at(row, DisputeLevel.NEGOTIATION, step="a settlement")
            row.settlement, row.settlement_by, row.settlement_at = terms, actor.department, now
            _record(session, row, actor, "proposed", now, text=terms)
        return row

    def confirm_settlement(self, actor: DisputeActor, dispute_id: str, now: datetime) -> Dispute:
        """The other party confirms the proposed settlement: the dispute is settled."""
        with self._step(actor, dispute_id) as (session, row):
            _at(row, DisputeLevel.NEGOTIATION, step="a settlement")
            if row.settlement is None:
                raise DisputeNoSettlement(f"no settlement of dispute {row.id} awaits confirmation")
            if row.settlement_by == actor.department:
                raise DisputeOwnSettlement(
                    f"department {actor.department} proposed this settlement: the other "
                    "department confirms it"
                )
            row.status, row.closed_at, row.outcome = DisputeStatus.SETTLED, now, row.settlement
            _record(session, row, actor, "settled", now, text=row.settlement)
        return row

    def escalate(
        self,
        actor: DisputeActor,
        dispute_id: str,
        to: DisputeLevel,
        reasons: str,
        now: datetime,
        document: Document | None = None,
    ) -> Dispute:
        """Take the dispute to the next level: a party to the data authority (after negotiation
        was tried or its clock ran out); the authority to the common superior, then to the
        government at that level (a referral, with its document)."""
        with self._step(actor, dispute_id) as (session, row):
            _next_level(row, to)
            if to is DisputeLevel.AUTHORITY:
                if actor.is_authority:
                    raise Forbidden("a party to the dispute takes it to the data authority")
                if not _negotiation_tried(session, row, now):
                    raise DisputeNegotiationNotTried(
                        f"dispute {row.id}: negotiation was not tried (the respondent has "
                        f"recorded no position) and its clock runs until {row.due_on}"
                    )
            elif not actor.is_authority:
                raise Forbidden("only the data authority refers a dispute beyond itself")
            elif document is None:
                raise DisputeReasonsRequired("a referral names its document and its SHA-256")
            _require_text(reasons, "reasons")
            row.level, row.level_since, row.due_on = to, now, self.due_on(to, now)
            row.settlement = row.settlement_by = row.settlement_at = None
            _record(session, row, actor, "escalated", now, text=reasons, document=document)
        return row

    # -- the data authority ------------------------------------------------------------------

    def decide(
        self, actor: DisputeActor, dispute_id: str, decision: str, reasons: str, now: datetime
    ) -> Dispute:
        """The authority's coordination decides the dispute, with its reasons."""
        _authority(actor, "decides")
        _require_text(decision, "decision")
        _require_text(reasons, "reasons")
        with self._step(actor, dispute_id) as (session, row):
            _at(row, DisputeLevel.AUTHORITY, step="the authority's decision")
            row.status, row.closed_at = DisputeStatus.DECIDED, now
            row.outcome, row.reasons = decision, reasons
            _record(session, row, actor, "decided", now, text=f"{decision}\n\n{reasons}")
        return row

    def record_outcome(
        self, actor: DisputeActor, dispute_id: str, outcome: str, document: Document, now: datetime
    ) -> Dispute:
        """The authority records the outcome the common superior or the government reached."""
        _authority(actor, "records an outcome reached outside the hub")
        _require_text(outcome, "outcome")
        with self._step(actor, dispute_id) as (session, row):
            _at(row, DisputeLevel.SUPERIOR, DisputeLevel.GOVERNMENT, step="an outcome")
            row.status, row.closed_at = DisputeStatus.RESOLVED, now
            row.outcome, row.outcome_digest = outcome, document.sha256
            _record(session, row, actor, "resolved", now, text=outcome, document=document)
        return row

    # -- one step ------------------------------------------------------------------------------

    @contextmanager
    def _step(self, actor: DisputeActor, dispute_id: str) -> Iterator[tuple[Session, Dispute]]:
        """One step's unit of work: the log's head lock, then the dispute row, locked, if the
        actor may see it and it is open; committed (with the step and its audit entry) when the
        block ends normally, rolled back otherwise."""
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)
            row = visible(session, actor, dispute_id, lock=True)
            if row.status is not DisputeStatus.OPEN:
                raise DisputeClosed(f"dispute {row.id} is {row.status.value}")
            yield session, row
            session.flush()
            session.expunge(row)


def visible(
    session: Session, actor: DisputeActor, dispute_id: str, *, lock: bool = False
) -> Dispute:
    """The dispute if *actor* may see it: the authority every one, a department its own."""
    row = session.get(Dispute, dispute_id, with_for_update=lock)
    if row is None or not (
        actor.is_authority or actor.department in (row.claimant, row.respondent)
    ):
        where = "" if actor.is_authority else f" to which department {actor.department} is party"
        raise DisputeNotFound(f"no dispute {dispute_id}{where}")
    return row


def _department_of(actor: DisputeActor) -> str:
    if actor.is_authority or not actor.department:
        raise Forbidden("a dispute is opened by a department's staff")
    return actor.department


def _authority(actor: DisputeActor, what: str) -> None:
    if not actor.is_authority:
        raise Forbidden(f"only the data authority {what}")


def _require_text(text: str, what: str) -> None:
    if not text or not text.strip():
        if what == "reasons":
            raise DisputeReasonsRequired("the reasons (说明理由) are required and may not be blank")
        raise DisputeTextEmpty(f"the {what} may not be empty")


def _at(row: Dispute, *levels: DisputeLevel, step: str) -> None:
    if row.level not in levels:
        allowed = " or ".join(level.value for level in levels)
        raise DisputeWrongLevel(
            f"dispute {row.id} is at level {row.level.value}: {step} belongs to {allowed}"
        )


def _next_level(row: Dispute, to: DisputeLevel) -> None:
    here = LEVELS.index(row.level)
    if LEVELS.index(to) != here + 1:
        if here + 1 >= len(LEVELS):
            raise DisputeLevelSkipped(f"dispute {row.id} is at the last level already")
        raise DisputeLevelSkipped(
            f"dispute {row.id} is at level {row.level.value}: it goes next to "
            f"{LEVELS[here + 1].value}, not {to.value}"
        )


def _negotiation_tried(session: Session, row: Dispute, now: datetime) -> bool:
    """Both departments have a position on record (the claimant's statement is its first), or
    the negotiation clock has run out."""
    if china_day(now) > row.due_on:
        return True
    spoke = session.scalars(
        select(DisputeStep.actor_department).where(
            DisputeStep.dispute_id == row.id, DisputeStep.action.in_(POSITION_ACTIONS)
        )
    )
    return {row.claimant, row.respondent} <= set(spoke)


def _no_open_dispute(
    session: Session, kind: MatterKind, matter_id: str, claimant: str, respondent: str
) -> None:
    found = session.scalar(
        select(Dispute.id).where(
            Dispute.matter_kind == kind,
            Dispute.matter_id == matter_id,
            Dispute.status == DisputeStatus.OPEN,
            Dispute.claimant.in_((claimant, respondent)),
            Dispute.respondent.in_((claimant, respondent)),
        )
    )
    if found is not None:
        raise DisputeAlreadyOpen(f"dispute {found} over {kind.value} {matter_id} is open")


def _record(
    session: Session,
    row: Dispute,
    actor: DisputeActor,
    action: str,
    now: datetime,
    *,
    text: str | None = None,
    document: Document | None = None,
) -> None:
    """The step's row and its audit entry, in the caller's transaction."""
    session.add(
        DisputeStep(
            dispute_id=row.id,
            at=now,
            level=row.level,
            action=action,
            actor=actor.subject,
            actor_role=actor.role,
            actor_department=actor.department,
            text=text,
            document_name=None if document is None else document.name,
            document_digest=None if document is None else document.sha256,
        )
    )
    append_in(session, cast("AuditEntry", audited_step(row, actor, action, text, document)))


def audited_step(
    row: Dispute,
    actor: DisputeActor,
    action: str,
    text: str | None,
    document: Document | None,
) -> dict[str, Any]:
    """A ``dispute`` entry: which dispute, its matter and parties, the step, the level and
    status it leaves and the clock; free text only as its SHA-256."""
    member: dict[str, Any] = {
        "type": "dispute",
        "id": row.id,
        "matter": {"kind": row.matter_kind.value, "id": row.matter_id},
        "claimant": row.claimant,
        "respondent": row.respondent,
        "event": action,
        "level_after": row.level.value,
        "status_after": row.status.value,
        "due_on": row.due_on.isoformat(),
        "by": actor.subject[:128],
        "by_role": actor.role,
    }
    if text is not None:
        member["text_digest"] = hashlib.sha256(text.encode()).hexdigest()
    if document is not None:
        member["document_digest"] = document.sha256
    return {
        "v": 1,
        "kind": "dispute",
        "request_id": str(uuid.uuid4()),
        "at": logged_at(),
        "system": "-",
        "department": actor.department or "-",
        "subject": NO_SUBJECT,
        "purpose": "-",
        "outcome": action,
        "object": member,
    }
