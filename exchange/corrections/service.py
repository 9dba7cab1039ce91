"""Filing and answering correction requests (校核纠错; a citizen's 异议), on the clock.

Filing, in this order (nothing is stored unless every check passes):

1. the attribute is a catalogue field, or a predicate over one (the request is about the field);
2. the audit log shows the filer received it: the cited request (an entry of kind ``query`` or
   ``verify``) is the filing system's own (a staff member's: their department's; a citizen's:
   about them), released that field, and was about the person named — another system's request
   is ``correction_not_received``, exactly like one that does not exist; a request about
   someone else is ``correction_other_subject``; a citizen who cites none must have had the
   field released about them at least once;
3. the hub reads the field at its source and keeps only a keyed fingerprint of what it holds;
4. the request is stored, addressed to the resource's provider (数源部门), due the configured
   number of working days after the day it was filed (China time, State Council calendar), and
   its ``filed`` event is appended to the audit log in the same transaction.

Answering is the provider's department admin's: **confirm** (the source was corrected there; the
hub reads the field again and records the new fingerprint — a source still holding the disputed
value is refused — and owes a notice to every system that received the field for that person
within ``correction_notice_days``, found in the audit log) or **reject** with reasons. Each
event (filed, corrected, rejected, notified) is an audit entry of kind ``correction``.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalogue.models import Resource
from exchange.agreements.workdays import add_working_days, china_day, official_calendar
from exchange.audit.lifecycle import hold_log
from exchange.audit.log import append_in
from exchange.audit.models import AuditRecord
from exchange.audit.reading import ACCESS_KINDS
from exchange.corrections.errors import (
    CorrectionAnswered,
    CorrectionNotFound,
    CorrectionNotReceived,
    CorrectionOtherSubject,
    CorrectionSourceUnavailable,
    CorrectionSourceUnchanged,
)
from exchange.corrections.models import (
    Correction,
    CorrectionNotice,
    CorrectionStatus,
    FiledBy,
    NoticeStatus,
)
from exchange.db import unit_of_work
from exchange.notice.reading import hidden_requests
from exchange.security.gm.profile import INTL, CryptoProfile
from exchange.security.subjects import Pseudonyms
from policies.errors import InvalidAttribute
from policies.transforms import DERIVATION_BASE, parse_derivation
from schemas import AuditEntry

__all__ = [
    "CorrectionAsk",
    "CorrectionDesk",
    "Filer",
    "audited_event",
    "field_of",
    "log_event",
    "utc_instant",
]

SourceRead = Callable[[str, str], Sequence[Any] | None]
"""Reads ``namespace.field`` of a resident ID at its source: the values, or None if it cannot."""


@dataclass(frozen=True)
class Filer:
    """Who files: a case system, a consumer department's staff member, or the citizen."""

    kind: FiledBy
    id: str  # the system id, the staff id, or "citizen"
    department: str | None  # the system's or the staff member's department


@dataclass(frozen=True)
class CorrectionAsk:
    subject: str  # the resident ID number, checked (GB 11643)
    attribute: str  # as received: a field, or a predicate over one
    evidence: str
    request_id: str | None  # the audited request it was received in


@dataclass(frozen=True)
class _Received:
    """What the audit log says the filer received: the field, its resource and provider."""

    field: str
    resource: str
    provider: str
    cited: str | None


def field_of(attribute: str) -> str:
    """``namespace.field`` of an attribute as asked (a predicate names the field it reads)."""
    namespace, _, rest = attribute.partition(".")
    try:
        derivation = parse_derivation(rest)
    except InvalidAttribute:
        return attribute
    if derivation is None:
        return attribute
    return f"{namespace}.{DERIVATION_BASE[derivation.predicate]}"


def utc_instant(moment: datetime) -> str:
    """RFC 3339, UTC, microseconds: how the audit log writes instants."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class CorrectionDesk:
    """The correction workflow over the hub's database, its sources and its keys."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        pseudonyms: Pseudonyms,
        read: SourceRead,
        *,
        subject_key: bytes,
        fingerprint_key: bytes,
        profile: CryptoProfile = INTL,
        reply_working_days: int = 10,
        notice_days: int = 1096,
    ) -> None:
        self._sessions = sessions
        self._pseudonyms = pseudonyms
        self._read = read
        # the crypto profile's AEAD and MAC: AES-256-GCM and HMAC-SHA-256, SM4-GCM and HMAC-SM3
        self._seal = profile.aead(subject_key[: profile.aead_key_bytes])
        self._fingerprint_mac = partial(profile.mac, fingerprint_key)
        self.reply_working_days = reply_working_days
        self._notice_days = notice_days

    # -- filing ----------------------------------------------------------------------------

    def file(self, filer: Filer, ask: CorrectionAsk, now: datetime) -> Correction:
        """A new correction request, checked against the audit log (module docstring)."""
        pseudonym = self._pseudonyms.of_number(ask.subject)
        with unit_of_work(self._sessions) as session:
            received = _received(session, filer, pseudonym, ask)
        correction_id = f"corr-{uuid.uuid4()}"
        old = self._fingerprint(
            correction_id, received.field, self._read(ask.subject, received.field)
        )
        row = Correction(
            id=correction_id,
            subject=pseudonym,
            subject_sealed=self._sealed(correction_id, ask.subject),
            attribute=received.field,
            resource=received.resource,
            provider=received.provider,
            filed_by=filer.kind,
            filer=filer.id,
            filer_department=filer.department,
            cited_request=received.cited,
            evidence=ask.evidence,
            status=CorrectionStatus.OPEN,
            filed_at=now,
            due_on=self.due_on(now),
            old_fingerprint=old,
        )
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)
            session.add(row)
            session.flush()
            system = filer.id if filer.kind is FiledBy.SYSTEM else "-"
            log_event(session, row, "filed", now, system=system, department=filer.department or "-")
            session.expunge(row)
        return row

    def due_on(self, filed_at: datetime) -> date:
        """The last working day the source department may answer on."""
        return add_working_days(china_day(filed_at), self.reply_working_days, official_calendar())

    # -- answering -------------------------------------------------------------------------

    def confirm(self, department: str, admin: str, correction_id: str, now: datetime) -> Correction:
        """The provider corrected the record at its source: read it again, record the new
        fingerprint, and owe every system that received the old value a notice."""
        with unit_of_work(self._sessions) as session:
            row = _addressed(session, department, correction_id)
            session.expunge(row)
        if row.status is not CorrectionStatus.OPEN:
            raise CorrectionAnswered(f"correction request {correction_id} was already answered")
        values = self._read(self.subject_of(row), row.attribute)
        if values is None:
            raise CorrectionSourceUnavailable(
                f"the source of {row.resource} could not be read; nothing changed, try again"
            )
        new = self._fingerprint(row.id, row.attribute, values)
        if new == row.old_fingerprint:
            raise CorrectionSourceUnchanged(
                f"the source of {row.resource} still holds the value {row.attribute} had when "
                "the request was filed: correct it there first"
            )
        with unit_of_work(self._sessions, write=True) as session:
            row = _answer(session, department, correction_id, CorrectionStatus.CORRECTED)
            row.decided_at, row.decided_by, row.new_fingerprint = now, admin, new
            log_event(session, row, "corrected", now, system="-", department=department)
            for notice in self._notices(session, row, now):
                session.add(notice)
                log_event(
                    session,
                    row,
                    "notified",
                    now,
                    system=notice.system_id,
                    department="-",
                    notice=notice.id,
                )
            session.flush()
            session.expunge(row)
        return row

    def reject(
        self, department: str, admin: str, correction_id: str, reason: str, now: datetime
    ) -> Correction:
        """The provider refuses, with reasons (the filer and the citizen see them)."""
        with unit_of_work(self._sessions, write=True) as session:
            row = _answer(session, department, correction_id, CorrectionStatus.REJECTED)
            row.decided_at, row.decided_by, row.reason = now, admin, reason
            log_event(session, row, "rejected", now, system="-", department=department)
            session.flush()
            session.expunge(row)
        return row

    # -- the person, sealed ------------------------------------------------------------------

    def subject_of(self, row: Correction) -> str:
        """The resident ID number of a request (for its source department and its notices)."""
        return self._seal.decrypt(row.subject_sealed, row.id.encode()).decode()

    def _sealed(self, correction_id: str, number: str) -> bytes:
        return self._seal.encrypt(number.encode(), correction_id.encode())

    def _fingerprint(
        self, correction_id: str, attribute: str, values: Sequence[Any] | None
    ) -> str | None:
        """The hub's keyed fingerprint of what the source holds (never the values)."""
        if values is None:
            return None
        text = json.dumps(
            {"correction": correction_id, "attribute": attribute, "values": list(values)},
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        digest = self._fingerprint_mac(text.encode())
        return base64.b64encode(digest).decode("ascii")

    # -- who received the old value ------------------------------------------------------------

    def _notices(
        self, session: Session, row: Correction, now: datetime
    ) -> Iterator[CorrectionNotice]:
        received: dict[str, list[str]] = {}
        purposes: dict[str, str] = {}
        for request_id, system, purpose, text in _accesses(
            session, row.subject, since=now - timedelta(days=self._notice_days)
        ):
            if _released_field(json.loads(text), row.attribute):
                received.setdefault(system, []).append(request_id)
                purposes[system] = purpose  # the newest request's purpose
        for system in sorted(received):
            yield CorrectionNotice(
                id=f"ntc-{uuid.uuid4()}",
                correction_id=row.id,
                system_id=system,
                purpose=purposes[system],
                received_in=received[system],
                status=NoticeStatus.PENDING,
                created_at=now,
            )


# -- the audit log -------------------------------------------------------------------------


def _accesses(
    session: Session, subject: str, *, since: datetime | None = None
) -> list[tuple[str, str, str, str]]:
    """The access entries about *subject* (since *since*), oldest first (indexed by subject)."""
    query = select(
        AuditRecord.request_id, AuditRecord.system_id, AuditRecord.purpose, AuditRecord.entry
    ).where(AuditRecord.subject == subject, AuditRecord.kind.in_(ACCESS_KINDS))
    if since is not None:
        query = query.where(AuditRecord.recorded_at >= since)
    rows = session.execute(query.order_by(AuditRecord.index))
    return [(request_id, system, purpose, text) for request_id, system, purpose, text in rows]


def _released_field(entry: Mapping[str, Any], field: str) -> str | None:
    """The resource of *field* if the entry released it (or a predicate over it), else None."""
    for attribute, audited in (entry.get("attributes") or {}).items():
        if audited.get("outcome") == "released" and field_of(attribute) == field:
            return str(audited["resource"])
    return None


def _received(session: Session, filer: Filer, pseudonym: str, ask: CorrectionAsk) -> _Received:
    """Step 2 of the module docstring: what the log says the filer received."""
    field = field_of(ask.attribute)
    if ask.request_id is None:  # a citizen: released about them at least once
        hidden = hidden_requests(session, pseudonym)  # deferred notice: not theirs to see yet
        found = next(
            (
                resource
                for request_id, _, _, text in _accesses(session, pseudonym)
                if request_id not in hidden
                and (resource := _released_field(json.loads(text), field))
            ),
            None,
        )
        if found is None:
            raise CorrectionNotReceived(f"the hub never released {field} about you")
        return _Received(field, found, _provider(session, found), None)
    record = session.scalar(select(AuditRecord).where(AuditRecord.request_id == ask.request_id))
    entry: dict[str, Any] = json.loads(record.entry) if record is not None else {}
    if record is None or record.kind not in ACCESS_KINDS or not _filed_by(filer, entry):
        raise CorrectionNotReceived(
            f"request {ask.request_id} released nothing to you: cite the request_id of an "
            "answer you received"
        )
    if record.subject != pseudonym:
        raise CorrectionOtherSubject(
            f"request {ask.request_id} was about another person than the one named"
        )
    resource = _released_field(entry, field)
    if resource is None:
        raise CorrectionNotReceived(f"request {ask.request_id} did not release {field} to you")
    return _Received(field, resource, _provider(session, resource), ask.request_id)


def _filed_by(filer: Filer, entry: Mapping[str, Any]) -> bool:
    """The entry is the filer's own: its system's, its department's, or about the citizen."""
    if filer.kind is FiledBy.SYSTEM:
        return entry.get("system") == filer.id
    if filer.kind is FiledBy.STAFF:
        return entry.get("department") == filer.department
    return True  # a citizen's: whether it is about them is the next check


def _provider(session: Session, resource: str) -> str:
    row = session.get(Resource, resource)
    if row is None:  # the log names a resource the catalogue no longer has
        raise CorrectionNotReceived(f"{resource} is no longer in the catalogue")
    return row.provider_code


def _addressed(
    session: Session, department: str, correction_id: str, *, lock: bool = False
) -> Correction:
    """A request addressed to *department*; anyone else's is not found."""
    row = session.get(Correction, correction_id, with_for_update=lock)
    if row is None or row.provider != department:
        raise CorrectionNotFound(f"no correction request {correction_id} addressed to {department}")
    return row


def _answer(
    session: Session, department: str, correction_id: str, status: CorrectionStatus
) -> Correction:
    """An open request addressed to *department*, locked (after the log's head, as every writer
    of the log takes them), now in *status*."""
    hold_log(session)
    row = _addressed(session, department, correction_id, lock=True)
    if row.status is not CorrectionStatus.OPEN:
        raise CorrectionAnswered(f"correction request {correction_id} was already answered")
    row.status = status
    return row


def audited_event(
    row: Correction,
    event: str,
    now: datetime,
    *,
    system: str,
    department: str,
    notice: str | None = None,
    release: str | None = None,
) -> dict[str, Any]:
    """A ``correction`` entry: which request, which event, the status it leaves (no value, the
    person as the pseudonym)."""
    member: dict[str, Any] = {
        "type": "correction",
        "id": row.id,
        "attribute": row.attribute,
        "resource": row.resource,
        "provider": row.provider,
        "event": event,
        "status_after": row.status.value,
    }
    if notice is not None:
        member["notice"] = notice
    if release is not None:
        member["release"] = release
    return {
        "v": 1,
        "kind": "correction",
        "request_id": str(uuid.uuid4()),
        "at": utc_instant(now),
        "system": system,
        "department": department,
        "subject": row.subject,
        "purpose": "-",
        "outcome": event,
        "object": member,
    }


def log_event(session: Session, row: Correction, event: str, now: datetime, **where: Any) -> None:
    """Append the *event* of *row* to the audit log, in the caller's transaction."""
    append_in(session, cast("AuditEntry", audited_event(row, event, now, **where)))
