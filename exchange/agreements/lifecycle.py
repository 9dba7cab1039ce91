"""An agreement's lifecycle in the audit log, and whether an agreement row may be relied on.

Events (each an audit entry of kind ``agreement``, :mod:`exchange.audit.lifecycle`, subject and
purpose ``-``): ``applied`` (pending), ``approved`` (an application approved, or a document
loaded: the hub signs the terms, :mod:`exchange.agreements.terms`), ``refused``, ``revoked``,
``expired`` (the sweep; the exchange also treats a validity past its signed end as over
without it) and ``recorded`` (``tongban audit record-lifecycles``, for an agreement from before
lifecycles were logged). Each carries the digest of the agreement's terms.

An approved agreement counts (:meth:`AgreementCheck.problem`), in this order, only if:

1. its terms are a ``tongban-agreement+jwt`` that verifies with a hub key;
2. the row's enforced columns equal the signed terms (:func:`agreement_terms`);
3. its newest lifecycle entry carries the digest of those terms;
4. and leaves it ``approved``.

A forged row, an edited one (wider fields, a later end) or an un-revoked one fails one of them
and releases nothing: the fields it would grant are refused ``agreement_unverifiable`` and the
answer's ``unverifiable`` says why, by agreement id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

from exchange.agreements.models import Agreement, AgreementStatus
from exchange.agreements.terms import AGREEMENT_TYP, agreement_terms, sign_terms
from exchange.audit.lifecycle import (
    NO_SUBJECT,
    PAGE_SIZE,
    LoggedEvent,
    SignedArtefacts,
    append_lifecycle,
    artefact_digest,
    audited_rows,
    digest_problem,
    latest_events,
    logged_at,
    unlogged_rows,
)
from exchange.audit.sink import Receipt
from exchange.audit.verify import register_rows
from exchange.security.keys import HubKeys
from schemas import LifecycleEntry

__all__ = [
    "AGREEMENT_UNVERIFIABLE",
    "AgreementCheck",
    "RecordedAgreements",
    "agreement_entry",
    "audited_agreements",
    "log_agreement_event",
    "record_agreements",
]

AGREEMENT_UNVERIFIABLE = "agreement_unverifiable"
"""Why a field an agreement the hub may not rely on would grant is refused."""


_STATUS_AFTER = {
    "applied": AgreementStatus.PENDING,
    "approved": AgreementStatus.APPROVED,
    "refused": AgreementStatus.REFUSED,
    "revoked": AgreementStatus.REVOKED,
    "expired": AgreementStatus.EXPIRED,
}


def agreement_entry(agreement: Agreement, event: str) -> LifecycleEntry:
    """The lifecycle entry of *event* for *agreement* (its row as it is after the event)."""
    status = _STATUS_AFTER.get(event) or AgreementStatus(agreement.status)
    return {
        "v": 1,
        "kind": "agreement",
        "request_id": str(uuid.uuid4()),
        "at": logged_at(),
        "system": agreement.system_id,
        "department": agreement.consumer_department,
        "subject": NO_SUBJECT,
        "purpose": NO_SUBJECT,
        "outcome": event,
        "object": {
            "type": "agreement",
            "id": agreement.id,
            "version": 1,
            "event": event,
            "status_after": status.value,
            "digest": artefact_digest(agreement_terms(agreement)),
        },
    }


def log_agreement_event(session: Session, agreement: Agreement, event: str) -> Receipt:
    """Append *event* of *agreement* to the log, in the caller's transaction."""
    return append_lifecycle(session, agreement_entry(agreement, event))


_SUSPENSIONS = table("agreement_suspensions", column("agreement_id"), column("status"))
"""Suspensions of agreements for misuse (``exchange.stewardship``, art. 29), read here by name
so that this room imports nothing of that one: a suspended or terminated agreement is not
relied on."""


def _halted(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Each of *ids* that is suspended or terminated, with which (one statement)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(_SUSPENSIONS.c.agreement_id, _SUSPENSIONS.c.status).where(
            _SUSPENSIONS.c.agreement_id.in_(wanted),
            _SUSPENSIONS.c.status.in_(("suspended", "terminated")),
        )
    )
    return {str(agreement_id): str(status) for agreement_id, status in rows}


class AgreementCheck:
    """Whether approved agreement rows may be relied on (the checks in the module docstring)."""

    def __init__(self, signed: SignedArtefacts | None = None) -> None:
        self._signed = signed or SignedArtefacts()

    def problems(self, session: Session, rows: Iterable[Agreement]) -> dict[str, str]:
        """Why each of *rows* (approved, in force by its columns) may not be relied on, by
        agreement id (one statement for the log)."""
        rows = list(rows)
        latest = latest_events(session, [row.id for row in rows])
        found: dict[str, str] = {}
        for row in rows:
            problem = self.problem(session, row, latest.get(row.id))
            if problem is not None:
                found[row.id] = problem
        for agreement_id, status in _halted(session, [row.id for row in rows]).items():
            found.setdefault(agreement_id, f"the agreement {agreement_id} is {status} (art. 29)")
        return found

    def problem(self, session: Session, row: Agreement, event: LoggedEvent | None) -> str | None:
        """Checks 1 to 4 for a row that says it is approved."""
        problem = self.signed_problem(session, row, event)
        if problem is not None:
            return problem
        if event is not None and event.status_after != AgreementStatus.APPROVED:
            return (
                f"the agreement {row.id}'s latest event in the audit log is "
                f"'{event.event}' (entry {event.index})"
            )
        return None

    def signed_problem(
        self, session: Session, row: Agreement, event: LoggedEvent | None
    ) -> str | None:
        """Checks 1 to 3."""
        signed = self.signed_terms(session, row)
        if isinstance(signed, str):
            return signed
        return digest_problem("agreement", row.id, event, signed, "other terms")

    def signed_terms(self, session: Session, row: Agreement) -> dict[str, Any] | str:
        """Checks 1 and 2: the terms the row's JWS signed, or why there are none."""
        return self._signed.signed_member(
            session,
            row.terms or "",
            typ=AGREEMENT_TYP,
            member="agreement",
            expected=agreement_terms(row),
            noun="agreement",
            object_id=row.id,
            what="terms",
        )

    def audit_problem(
        self, session: Session, row: Agreement, event: LoggedEvent | None
    ) -> str | None:
        """What ``tongban audit verify`` says of any row: an approved or revoked one (which has
        terms) passes checks 1 to 3; a pending or refused one's newest entry carries the
        digest of its row; then the stored status against the newest entry's (``expired`` may
        be derived, not stored)."""
        stored = AgreementStatus(row.status)
        if stored in (AgreementStatus.APPROVED, AgreementStatus.REVOKED):
            problem = self.signed_problem(session, row, event)
        else:
            problem = _unsigned_problem(row, event)
        if problem is not None or event is None:
            return problem
        logged = event.status_after
        if stored.value == logged:
            return None
        if stored is AgreementStatus.APPROVED and logged == AgreementStatus.EXPIRED:
            return None
        return (
            f"the agreement {row.id} is '{stored.value}' in the database but its latest event "
            f"in the audit log is '{event.event}' (entry {event.index})"
        )


def _unsigned_problem(row: Agreement, event: LoggedEvent | None) -> str | None:
    """A pending or refused row: its newest entry carries the digest of its row's terms."""
    return digest_problem("agreement", row.id, event, agreement_terms(row), "other terms")


def audited_agreements(session: Session) -> Iterator[tuple[int | None, str]]:
    """Kind ``agreement`` of ``tongban audit verify``: every row checked by
    :meth:`AgreementCheck.audit_problem`; for each bad one its newest entry's index and why."""
    return audited_rows(session, Agreement, AgreementCheck().audit_problem)


@dataclass
class RecordedAgreements:
    """What :func:`record_agreements` did."""

    recorded: int = 0
    signed: int = 0
    refused: list[str] = field(default_factory=list)


def record_agreements(
    session: Session, keys: HubKeys, *, now: datetime, limit: int = PAGE_SIZE
) -> RecordedAgreements:
    """Up to *limit* agreements with no lifecycle entry yet get a ``recorded`` entry in the
    status their row holds. An approved or revoked row without terms has them signed first (an
    upgraded hub's agreements predate signed terms); one whose terms do not verify or match
    stays without an entry and releases nothing. The caller commits; run again until nothing
    is recorded."""
    check = AgreementCheck()
    done = RecordedAgreements()
    for row in unlogged_rows(session, Agreement, limit):
        if row.status in (AgreementStatus.APPROVED, AgreementStatus.REVOKED):
            if row.terms is None:
                if row.valid_from is None or row.granted is None:
                    done.refused.append(f"the agreement {row.id} has no approved terms")
                    continue
                sign_terms(session, keys, row, now=now)
                done.signed += 1
            signed = check.signed_terms(session, row)
            if isinstance(signed, str):
                done.refused.append(signed)
                continue
        log_agreement_event(session, row, "recorded")
        done.recorded += 1
    return done


register_rows("agreement", audited_agreements)
