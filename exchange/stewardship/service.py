"""Usage records, disposal attestations and suspensions of sharing agreements (《政务数据共享条例》
art. 25, 27, 29).

- **Usage records** (使用记录): the consumer department files them per agreement; they are never
  changed (there is no route that changes one): an amendment is a new record naming the one it
  amends. Each is kept at least until ``retain_until``, ``usage_record_retention_years`` (3 or
  more) after filing. The provider and the data authority read them.
- **Disposal** (销毁): once the purpose is met or the term ended, the consumer attests what was
  disposed of, how, when and by whom; refused while the agreement is still in force.
- **Suspension** (暂停共享): the provider or the data authority suspends an agreement in force
  for misuse, with reasons and a remedy deadline. While it is suspended the exchange relies on
  nothing under it (``exchange.stewardship.suspended``). Remedied: reinstated; the deadline
  passed unremedied: terminated (the exchange never relies on it again).

Each step checks, in this order, before anything is stored: the caller's role and department
(the agreement's consumer, or its provider, or the authority); the agreement's state; the texts.
Then the row and an audit entry of kind ``stewardship`` (no free text, only its SHA-256) are
written in one transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalogue.models import Resource
from exchange.agreements.models import Agreement, AgreementStatus
from exchange.agreements.workdays import china_day
from exchange.audit.lifecycle import NO_SUBJECT, hold_log, logged_at
from exchange.audit.log import append_in
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.stewardship.errors import (
    AgreementHalted,
    AgreementNotSuspended,
    DisposalWhileInForce,
    RemedyDeadlineNotPassed,
    ServiceChangeInvalid,
    StewardshipAgreementNotFound,
    StewardshipTextEmpty,
    UsageRecordNotFound,
)
from exchange.stewardship.models import (
    AgreementSuspension,
    DisposalAttestation,
    ServiceChange,
    SuspensionStatus,
    UsageRecord,
)
from exchange.stewardship.suspended import halted
from schemas import AuditEntry

__all__ = [
    "AUTHORITY",
    "Steward",
    "StewardshipDesk",
    "UsageText",
    "announce_change",
    "log_step",
]

AUTHORITY = "data_authority"


@dataclass(frozen=True)
class Steward:
    """Who acts: a department's staff member (with the department) or the data authority's."""

    subject: str
    role: str
    department: str | None

    @property
    def is_authority(self) -> bool:
        return self.role == AUTHORITY


@dataclass(frozen=True)
class UsageText:
    """使用场景、使用过程、应用成效、存储情况、销毁情况."""

    scenario: str
    process: str
    effect: str
    storage: str
    disposal: str


class StewardshipDesk:
    """Usage records, disposal and suspensions over the hub's database."""

    def __init__(self, sessions: sessionmaker[Session], retention_years: int = 3) -> None:
        if retention_years < 3:
            raise ValueError("usage records are kept at least 3 years")
        self._sessions = sessions
        self.retention_years = retention_years

    # -- the consumer --------------------------------------------------------------------------

    def file_usage(
        self,
        actor: Steward,
        agreement_id: str,
        text: UsageText,
        now: datetime,
        amends: str | None = None,
    ) -> UsageRecord:
        for part in (text.scenario, text.process, text.effect, text.storage, text.disposal):
            _require(part)
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)
            agreement = _of_consumer(session, actor, agreement_id)
            if amends is not None:
                old = session.get(UsageRecord, amends)
                if old is None or old.agreement_id != agreement.id:
                    raise UsageRecordNotFound(f"no usage record {amends} of {agreement.id}")
            row = UsageRecord(
                id=f"use-{uuid.uuid4()}",
                agreement_id=agreement.id,
                department=agreement.consumer_department,
                scenario=text.scenario,
                process=text.process,
                effect=text.effect,
                storage=text.storage,
                disposal=text.disposal,
                amends=amends,
                filed_at=now,
                filed_by=actor.subject,
                retain_until=_years_after(china_day(now), self.retention_years),
            )
            session.add(row)
            session.flush()
            digest = _digest(text.scenario, text.process, text.effect, text.storage, text.disposal)
            _log(session, actor, agreement, "usage_recorded", row.id, digest)
            session.expunge(row)
        return row

    def attest_disposal(
        self,
        actor: Steward,
        agreement_id: str,
        what: str,
        how: str,
        disposed_on: date,
        who: str,
        now: datetime,
    ) -> DisposalAttestation:
        for part in (what, how, who):
            _require(part)
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)
            agreement = _of_consumer(session, actor, agreement_id)
            if _in_force(agreement, now) and agreement.id not in halted(session, [agreement.id]):
                raise DisposalWhileInForce(
                    f"agreement {agreement.id} is still in force: disposal is attested once "
                    "its purpose is met or its term has ended"
                )
            row = DisposalAttestation(
                id=f"dsl-{uuid.uuid4()}",
                agreement_id=agreement.id,
                department=agreement.consumer_department,
                what=what,
                how=how,
                disposed_on=disposed_on,
                who=who,
                filed_at=now,
                filed_by=actor.subject,
            )
            session.add(row)
            session.flush()
            _log(session, actor, agreement, "disposed", row.id, _digest(what, how, who))
            session.expunge(row)
        return row

    # -- the provider or the authority ---------------------------------------------------------

    def suspend(
        self, actor: Steward, agreement_id: str, reasons: str, remedy_by: date, now: datetime
    ) -> AgreementSuspension:
        _require(reasons)
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)
            agreement = _of_provider(session, actor, agreement_id)
            if not _in_force(agreement, now) or agreement.id in halted(session, [agreement.id]):
                raise AgreementHalted(
                    f"agreement {agreement.id} is not in force, or is suspended or terminated"
                )
            if remedy_by <= china_day(now):
                raise AgreementHalted("the remedy deadline must lie ahead (a day after today)")
            row = AgreementSuspension(
                id=f"sus-{uuid.uuid4()}",
                agreement_id=agreement.id,
                status=SuspensionStatus.SUSPENDED,
                reasons=reasons,
                remedy_by=remedy_by,
                suspended_at=now,
                suspended_by=actor.subject,
                suspended_by_role=actor.role,
            )
            session.add(row)
            session.flush()
            _log(session, actor, agreement, "suspended", row.id, _digest(reasons), remedy_by)
            session.expunge(row)
        return row

    def reinstate(
        self, actor: Steward, agreement_id: str, note: str, now: datetime
    ) -> AgreementSuspension:
        """The misuse was remedied: the agreement is relied on again."""
        return self._end(actor, agreement_id, note, now, SuspensionStatus.REINSTATED)

    def terminate(
        self, actor: Steward, agreement_id: str, note: str, now: datetime
    ) -> AgreementSuspension:
        """The remedy deadline passed unremedied: the agreement is never relied on again."""
        return self._end(actor, agreement_id, note, now, SuspensionStatus.TERMINATED)

    def _end(
        self,
        actor: Steward,
        agreement_id: str,
        note: str,
        now: datetime,
        status: SuspensionStatus,
    ) -> AgreementSuspension:
        _require(note)
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)
            agreement = _of_provider(session, actor, agreement_id)
            row = session.scalars(
                select(AgreementSuspension)
                .where(
                    AgreementSuspension.agreement_id == agreement.id,
                    AgreementSuspension.status == SuspensionStatus.SUSPENDED,
                )
                .with_for_update()
            ).first()
            if row is None:
                raise AgreementNotSuspended(f"agreement {agreement.id} is not suspended")
            if status is SuspensionStatus.TERMINATED and china_day(now) <= row.remedy_by:
                raise RemedyDeadlineNotPassed(
                    f"agreement {agreement.id} may be remedied until {row.remedy_by}"
                )
            row.status, row.ended_at, row.ended_by, row.ended_note = (
                status,
                now,
                actor.subject,
                note,
            )
            session.flush()
            _log(session, actor, agreement, status.value, row.id, _digest(note))
            session.expunge(row)
        return row


def announce_change(
    sessions: sessionmaker[Session],
    actor: Steward,
    resource_code: str,
    change: tuple[str, list[str]],
    effective_on: date,
    reason: str,
    now: datetime,
) -> tuple[ServiceChange, list[str]]:
    """The provider's notice that it stops or changes (*change*: kind and fields) a service
    from *effective_on* on, with its reason; every consumer with an agreement on the resource
    is told (one audit entry each). Returns the notice and the agreements it reached."""
    kind, fields = change
    _require(reason)
    if actor.is_authority or not actor.department:
        raise Forbidden("a service change is announced by its provider department")
    with unit_of_work(sessions, write=True) as session:
        hold_log(session)
        resource = session.get(Resource, resource_code)
        if resource is None or resource.provider_code != actor.department:
            raise StewardshipAgreementNotFound(
                f"no resource {resource_code} provided by department {actor.department}"
            )
        if effective_on <= china_day(now):
            raise ServiceChangeInvalid("a service change is announced before the day it applies")
        row = ServiceChange(
            id=f"chg-{uuid.uuid4()}",
            resource_code=resource_code,
            provider=actor.department,
            change=kind,
            fields=sorted(set(fields)),
            effective_on=effective_on,
            reason=reason,
            filed_at=now,
            filed_by=actor.subject,
        )
        session.add(row)
        session.flush()
        reached = session.scalars(
            select(Agreement)
            .where(
                Agreement.resource_code == resource_code,
                Agreement.status == AgreementStatus.APPROVED,
            )
            .order_by(Agreement.id)
        ).all()
        for agreement in reached:
            _log(session, actor, agreement, "service_change", row.id, _digest(kind, reason))
        session.expunge(row)
    return row, [a.id for a in reached]


def _require(text: str) -> None:
    if not text or not text.strip():
        raise StewardshipTextEmpty("every part must say something (not only spaces)")


def _in_force(agreement: Agreement, now: datetime) -> bool:
    if agreement.status is not AgreementStatus.APPROVED:
        return False
    starts = agreement.valid_from
    return (starts is None or starts <= now) and (
        agreement.valid_until is None or now < agreement.valid_until
    )


def _of_consumer(session: Session, actor: Steward, agreement_id: str) -> Agreement:
    if actor.is_authority or not actor.department:
        raise Forbidden("usage records and disposal are the consumer department's to file")
    row = session.get(Agreement, agreement_id)
    if row is None or row.consumer_department != actor.department:
        raise StewardshipAgreementNotFound(
            f"no agreement {agreement_id} with department {actor.department} as its consumer"
        )
    return row


def _of_provider(session: Session, actor: Steward, agreement_id: str) -> Agreement:
    row = session.get(Agreement, agreement_id, with_for_update=True)
    if row is None or not (actor.is_authority or row.provider_department == actor.department):
        raise StewardshipAgreementNotFound(
            f"no agreement {agreement_id} with department {actor.department} as its provider"
        )
    return row


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n\n".join(parts).encode()).hexdigest()


def log_step(
    session: Session, actor: Steward, agreement: Agreement, event: str, object_id: str, text: str
) -> None:
    """Append a ``stewardship`` entry for *event* (its *text* only as SHA-256)."""
    _log(session, actor, agreement, event, object_id, _digest(text))


def _log(
    session: Session,
    actor: Steward,
    agreement: Agreement,
    event: str,
    object_id: str,
    digest: str,
    remedy_by: date | None = None,
) -> None:
    member: dict[str, Any] = {
        "type": "stewardship",
        "id": object_id,
        "agreement": agreement.id,
        "consumer": agreement.consumer_department,
        "provider": agreement.provider_department,
        "event": event,
        "text_digest": digest,
        "by": actor.subject[:128],
        "by_role": actor.role,
    }
    if remedy_by is not None:
        member["remedy_by"] = remedy_by.isoformat()
    entry = {
        "v": 1,
        "kind": "stewardship",
        "request_id": str(uuid.uuid4()),
        "at": logged_at(),
        "system": "-",
        "department": actor.department or "-",
        "subject": NO_SUBJECT,
        "purpose": "-",
        "outcome": event,
        "object": member,
    }
    append_in(session, cast("AuditEntry", entry))
