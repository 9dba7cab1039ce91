"""A consent's lifecycle in the audit log, and whether a consent row may be relied on.

Events (each an audit entry of kind ``consent``, :mod:`exchange.audit.lifecycle`): ``given``
(approval), ``narrowed`` (a new version that supersedes an older one; the older one gets its
own ``superseded`` entry in the same transaction), ``revoked``, ``expired`` (the sweep) and
``recorded`` (``tongban audit record-lifecycles``, for a consent given before lifecycles were
logged). ``used`` is not a lifecycle entry: the query entry that relied on a consent names it
(its attributes' ``consent``) and is the ``used`` event.

A consent row counts (:meth:`ConsentCheck.problems`), in this order, only if:

1. its receipt is a ``tongban-consent+jwt`` that verifies with a hub key;
2. the row's terms equal the artefact the receipt signed (:func:`artefact`);
3. its newest lifecycle entry carries the digest of that artefact;
4. and leaves it ``given``.

A forged row (junk receipt), an edited one (wider fields, later expiry) or an un-revoked one
fails one of them and releases nothing; the reason names the check and the entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange.audit.lifecycle import (
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
from exchange.consent.artefact import CONSENT_TYP, artefact
from exchange.consent.models import Consent, ConsentStatus
from exchange.consent.states import UNVERIFIABLE, effective_status
from schemas import LifecycleEntry

__all__ = [
    "ConsentCheck",
    "Recorded",
    "Unrelied",
    "audited_consents",
    "consent_entry",
    "log_consent_event",
    "record_consents",
]


@dataclass(frozen=True)
class Unrelied:
    """Why the hub may not rely on a consent row that says it is given: the reason in words,
    and the state the exchange treats it as (``unverifiable`` for checks 1 to 3; for check 4,
    the status the log's newest entry left it in: the log's word wins over the row's)."""

    reason: str
    status: str


_STATUS_AFTER = {
    "given": ConsentStatus.GIVEN,
    "narrowed": ConsentStatus.GIVEN,
    "superseded": ConsentStatus.SUPERSEDED,
    "revoked": ConsentStatus.REVOKED,
    "expired": ConsentStatus.EXPIRED,
}


def consent_entry(consent: Consent, event: str) -> LifecycleEntry:
    """The lifecycle entry of *event* for *consent* (its row as it is after the event)."""
    status = _STATUS_AFTER.get(event) or ConsentStatus(consent.status)
    entry: LifecycleEntry = {
        "v": 1,
        "kind": "consent",
        "request_id": str(uuid.uuid4()),
        "at": logged_at(),
        "system": consent.system_id,
        "department": consent.consumer_department,
        "subject": consent.subject,
        "purpose": consent.purpose,
        "outcome": event,
        "object": {
            "type": "consent",
            "id": consent.id,
            "version": consent.version,
            "event": event,
            "status_after": status.value,
            "digest": artefact_digest(artefact(consent)),
        },
    }
    if event == "narrowed" and consent.supersedes:
        entry["object"]["supersedes"] = consent.supersedes
    return entry


def log_consent_event(session: Session, consent: Consent, event: str) -> Receipt:
    """Append *event* of *consent* to the log, in the caller's transaction."""
    return append_lifecycle(session, consent_entry(consent, event))


class ConsentCheck:
    """Whether consent rows may be relied on (the checks in the module docstring)."""

    def __init__(self, signed: SignedArtefacts | None = None) -> None:
        self._signed = signed or SignedArtefacts()

    def problems(
        self, session: Session, rows: Iterable[Consent], now: datetime
    ) -> dict[str, Unrelied]:
        """Why each row that would count may not be relied on (one statement for the log). A
        row that is itself no longer given (revoked, used, expired, superseded) is left out:
        it releases nothing already, and its refusal says so in its own words."""
        live = [row for row in rows if effective_status(row, now) is ConsentStatus.GIVEN]
        latest = latest_events(session, [row.id for row in live])
        found: dict[str, Unrelied] = {}
        for row in live:
            problem = self.problem(session, row, latest.get(row.id))
            if problem is not None:
                found[row.id] = problem
        return found

    def problem(self, session: Session, row: Consent, event: LoggedEvent | None) -> Unrelied | None:
        """Checks 1 to 4 of the module docstring for a row that says it is given."""
        problem = self.signed_problem(session, row, event)
        if problem is not None:
            return Unrelied(problem, UNVERIFIABLE)
        if event is not None and event.status_after != ConsentStatus.GIVEN:
            return Unrelied(
                f"the consent {row.id}'s latest event in the audit log is "
                f"'{event.event}' (entry {event.index})",
                event.status_after,
            )
        return None

    def signed_problem(
        self, session: Session, row: Consent, event: LoggedEvent | None
    ) -> str | None:
        """Checks 1 to 3: the receipt verifies, the row is what it signed, and the newest
        lifecycle entry is about that artefact."""
        signed = self.signed_artefact(session, row)
        if isinstance(signed, str):
            return signed
        return digest_problem("consent", row.id, event, signed, "another receipt")

    def signed_artefact(self, session: Session, row: Consent) -> dict[str, Any] | str:
        """Checks 1 and 2: the artefact the row's receipt signed, or why there is none."""
        return self._signed.signed_member(
            session,
            row.receipt or "",
            typ=CONSENT_TYP,
            member="consent",
            expected=artefact(row),
            noun="consent",
            object_id=row.id,
            what="receipt",
        )

    def audit_problem(
        self, session: Session, row: Consent, event: LoggedEvent | None
    ) -> str | None:
        """What ``tongban audit verify`` says of any row: checks 1 to 3, then the stored status
        against the newest entry's (``used`` and ``expired`` may follow ``given`` without an
        entry of their own: the query entries and the clock make them)."""
        problem = self.signed_problem(session, row, event)
        if problem is not None or event is None:
            return problem
        stored = ConsentStatus(row.status)
        logged = event.status_after
        if stored.value == logged:
            return None
        if logged == ConsentStatus.GIVEN and stored in (ConsentStatus.USED, ConsentStatus.EXPIRED):
            return None
        return (
            f"the consent {row.id} is '{stored.value}' in the database but its latest event in "
            f"the audit log is '{event.event}' (entry {event.index})"
        )


def audited_consents(session: Session) -> Iterator[tuple[int | None, str]]:
    """Kind ``consent`` of ``tongban audit verify``: every row checked by
    :meth:`ConsentCheck.audit_problem`; for each bad one its newest entry's index and why."""
    return audited_rows(session, Consent, ConsentCheck().audit_problem)


@dataclass
class Recorded:
    """What :func:`record_consents` did: how many consents it recorded, and why each it left
    alone (already in the log, or inconsistent with its receipt) was left."""

    recorded: int = 0
    logged_already: int = 0
    refused: list[str] = field(default_factory=list)


def record_consents(session: Session, *, limit: int = PAGE_SIZE) -> Recorded:
    """Up to *limit* consents with no lifecycle entry yet get a ``recorded`` entry, in the
    status their row holds, if their receipt verifies and the row is what it signed (checks 1
    and 2); a row that fails them stays without an entry and releases nothing. The caller
    commits; run again until nothing is recorded."""
    check = ConsentCheck()
    done = Recorded()
    for row in unlogged_rows(session, Consent, limit):
        signed = check.signed_artefact(session, row)
        if isinstance(signed, str):
            done.refused.append(signed)
            continue
        log_consent_event(session, row, "recorded")
        done.recorded += 1
    return done


register_rows("consent", audited_consents)
