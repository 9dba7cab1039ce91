"""Where a consent or a consent request stands at a given time, and the consent states the
exchange checks for each field it releases.

Expiry needs no sweep to take effect: the status is worked out from the time whenever a consent
or a request is read (:func:`effective_status`, :func:`request_status`); the sweep
(:func:`exchange.consent.service.expire_consents`) only writes it down for the history.

Enforcement is the exchange's (exchange/query/pipeline.py): :func:`consent_states` feeds the
policy engine, and inside the audit batch transaction :func:`lock_consents` re-reads the consents
relied on under a row lock — a revocation that committed first wins, one that comes later waits
for the query's commit — before :func:`exchange.consent.service.record_use` counts the use.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, or_, select
from sqlalchemy.orm import Session

from exchange.consent.models import Consent, ConsentRequest, ConsentStatus, RequestStatus
from policies.model import ConsentState

__all__ = [
    "UNVERIFIABLE",
    "consent_rows",
    "consent_state",
    "consent_states",
    "effective_status",
    "lock_consents",
    "request_status",
]


def request_status(row: ConsentRequest, now: datetime) -> RequestStatus:
    """The stored status, except that a request still pending after its answer-by time has
    expired."""
    status = RequestStatus(row.status)
    if status is RequestStatus.PENDING and now >= row.answer_by:
        return RequestStatus.EXPIRED
    return status


def effective_status(consent: Consent, now: datetime) -> ConsentStatus:
    """The stored status, with expiry and exhausted uses worked out from the time."""
    status = ConsentStatus(consent.status)
    if status is not ConsentStatus.GIVEN:
        return status
    if now >= consent.expires_at:
        return ConsentStatus.EXPIRED
    if consent.max_uses is not None and consent.use_count >= consent.max_uses:
        return ConsentStatus.USED
    return status


_CONSENTS = cast(Table, Consent.__table__)
_MINE = (
    _CONSENTS.c.subject == bindparam("subject"),
    _CONSENTS.c.system_id == bindparam("system"),
)
_GIVEN = _CONSENTS.c.status == ConsentStatus.GIVEN.value
_GIVEN_IDS = select(_CONSENTS.c.id).where(*_MINE, _GIVEN)
_GIVEN_OR_NAMED_IDS = select(_CONSENTS.c.id).where(
    *_MINE, or_(_GIVEN, _CONSENTS.c.id == bindparam("named"))
)


def consent_rows(
    session: Session, *, subject: str, system: str, named: str | None
) -> list[Consent]:
    """The subject's consents to *system* still given, and the one the query names whatever
    its state (so a refusal can say why)."""
    # Most people have none: ask for the ids on the unit's connection first, with a statement
    # built once on the table (a tenth of the cost of loading objects through the ORM), and
    # load the rows only when there are some.
    statement = _GIVEN_IDS if named is None else _GIVEN_OR_NAMED_IDS
    found = session.connection().execute(
        statement, {"subject": subject, "system": system, "named": named}
    )
    ids = found.scalars().all()
    if not ids:
        return []
    return list(session.scalars(select(Consent).where(Consent.id.in_(ids)).order_by(Consent.id)))


UNVERIFIABLE = "unverifiable"
"""The state of a consent that fails :class:`exchange.consent.lifecycle.ConsentCheck`: the
engine sees it as not active (so nothing relies on it) and the exchange says why."""


def consent_state(row: Consent, now: datetime, *, status: str | None = None) -> ConsentState:
    """The policy engine's view of one consent row (in *status*, when the exchange overrides
    the row's: :data:`UNVERIFIABLE`, or the status the audit log's newest entry left)."""
    return ConsentState(
        consent_id=row.id,
        system=row.system_id,
        purpose=row.purpose,
        attributes=frozenset(f["attribute"] for f in row.fields),
        status=status or effective_status(row, now).value,
    )


def consent_states(
    session: Session, *, subject: str, system: str, named: str | None, now: datetime
) -> list[ConsentState]:
    """The policy engine's view of :func:`consent_rows` (unchecked against the log: the
    exchange checks them first, see :mod:`exchange.consent.lifecycle`)."""
    rows = consent_rows(session, subject=subject, system=system, named=named)
    return [consent_state(row, now) for row in rows]


def lock_consents(session: Session, ids: Iterable[str]) -> dict[str, Consent]:
    """The consents *ids*, locked until the caller's commit (see the module docstring)."""
    rows = session.scalars(select(Consent).where(Consent.id.in_(sorted(ids))).with_for_update())
    return {row.id: row for row in rows}
