"""Reading consent: the lookups a case system and a citizen make, and the views they read.

A system sees only the requests it made; a citizen only their own requests and consents.
Anyone else's is not found, exactly like an id that does not exist, so that ids reveal
nothing. Views name departments and systems by their display names and give each status as
worked out at the time of reading (:mod:`exchange.consent.states`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import Department, System
from exchange.audit.lifecycle import event_view, logged_events
from exchange.consent.artefact import instant
from exchange.consent.errors import ConsentNotFound, ConsentRequestNotFound
from exchange.consent.models import Consent, ConsentEvent, ConsentRequest, RequestStatus
from exchange.consent.states import effective_status, request_status

__all__ = [
    "MAX_CONSENTS",
    "MAX_REQUESTS",
    "citizen_consent",
    "citizen_consents",
    "citizen_request",
    "citizen_requests",
    "consent_view",
    "consent_views",
    "request_view",
    "system_request",
]

MAX_REQUESTS = 200  # a citizen's list of requests, newest first
MAX_CONSENTS = 500  # a citizen's list of consents, newest first


# -- lookups -------------------------------------------------------------------------------


def system_request(session: Session, *, system: str, request_id: str) -> ConsentRequest:
    """A request *system* made; :class:`ConsentRequestNotFound` for any other."""
    row = session.get(ConsentRequest, request_id)
    if row is None or row.system_id != system:
        raise ConsentRequestNotFound(f"no consent request {request_id!r} of yours")
    return row


def citizen_request(session: Session, *, subject: str, request_id: str) -> ConsentRequest:
    """A request made to the citizen *subject*; :class:`ConsentRequestNotFound` for any
    other."""
    row = session.get(ConsentRequest, request_id)
    if row is None or row.subject != subject:
        raise ConsentRequestNotFound(f"no consent request {request_id!r} for you")
    return row


def citizen_requests(
    session: Session, *, subject: str, pending_only: bool, now: datetime
) -> Sequence[ConsentRequest]:
    """The citizen's requests, newest first: all of them, or only those still awaiting an
    answer at *now*."""
    query = select(ConsentRequest).where(ConsentRequest.subject == subject)
    if pending_only:
        query = query.where(
            ConsentRequest.status == RequestStatus.PENDING, ConsentRequest.answer_by > now
        )
    order = ConsentRequest.created_at.desc()
    return session.scalars(query.order_by(order).limit(MAX_REQUESTS)).all()


def citizen_consent(session: Session, *, subject: str, consent_id: str) -> Consent:
    """One of the citizen's consents; :class:`ConsentNotFound` for any other."""
    row = session.get(Consent, consent_id)
    if row is None or row.subject != subject:
        raise ConsentNotFound(f"no consent {consent_id!r} of yours")
    return row


def citizen_consents(session: Session, *, subject: str) -> Sequence[Consent]:
    """The citizen's consents, every version, newest first."""
    return session.scalars(
        select(Consent)
        .where(Consent.subject == subject)
        .order_by(Consent.starts_at.desc(), Consent.id)
        .limit(MAX_CONSENTS)
    ).all()


# -- views ---------------------------------------------------------------------------------


class _Names:
    """Display names of departments and systems, read once per view."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._departments: dict[str, dict[str, Any]] = {}
        self._systems: dict[str, dict[str, Any]] = {}

    def department(self, code: str) -> dict[str, Any]:
        if code not in self._departments:
            row = self._session.get(Department, code)
            self._departments[code] = {
                "code": code,
                "name": row.name if row else code,
                "name_en": row.name_en if row else None,
            }
        return self._departments[code]

    def system(self, system_id: str) -> dict[str, Any]:
        if system_id not in self._systems:
            row = self._session.get(System, system_id)
            self._systems[system_id] = {"id": system_id, "name": row.name if row else None}
        return self._systems[system_id]


def request_view(
    session: Session, row: ConsentRequest, now: datetime, base_url: str
) -> dict[str, Any]:
    """A request with its preview, its answer, and the URL where the citizen decides."""
    names = _Names(session)
    return {
        "id": row.id,
        "status": request_status(row, now).value,
        "created_at": instant(row.created_at),
        "answer_by": instant(row.answer_by),
        "answered_at": instant(row.answered_at),
        "system": names.system(row.system_id),
        "consumer_department": names.department(row.consumer_department),
        "officer": row.officer,
        "purpose": {"code": row.purpose, "text": row.purpose_text},
        "service_item": row.service_item,
        "legal_basis": row.legal_basis,
        "fields": [_field_view(f, names) for f in row.fields],
        "mode": row.mode,
        "valid_days": row.valid_days,
        "max_uses": row.max_uses,
        "retention_days": row.retention_days,
        "approval_url": f"{base_url}/console/citizen/requests/{row.id}",
        "consent_id": row.consent_id,
        "refusal_reason": row.refusal_reason,
    }


def consent_view(session: Session, row: Consent, now: datetime) -> dict[str, Any]:
    return consent_views(session, [row], now)[0]


def consent_views(session: Session, rows: Sequence[Consent], now: datetime) -> list[dict[str, Any]]:
    """The views of *rows*, each with its history (read in one query for all of them)."""
    names = _Names(session)
    history: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    for e in session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.consent_id.in_(list(history)))
        .order_by(ConsentEvent.id)
    ):
        history[e.consent_id].append(
            {"at": instant(e.at), "event": e.event, "actor": e.actor, "detail": e.detail}
        )
    logged = logged_events(session, list(history))
    return [
        {
            "id": row.id,
            "version": row.version,
            "supersedes": row.supersedes,
            "superseded_by": row.superseded_by,
            "request_id": row.request_id,
            "status": effective_status(row, now).value,
            "system": names.system(row.system_id),
            "consumer_department": names.department(row.consumer_department),
            "providers": [names.department(code) for code in row.providers],
            "purpose": {"code": row.purpose, "text": row.purpose_text},
            "legal_basis": row.legal_basis,
            "fields": [_field_view(f, names) for f in row.fields],
            "mode": row.mode,
            "starts_at": instant(row.starts_at),
            "expires_at": instant(row.expires_at),
            "max_uses": row.max_uses,
            "use_count": row.use_count,
            "last_used_at": instant(row.last_used_at),
            "retention_days": row.retention_days,
            "receipt": row.receipt,
            "events": history[row.id],
            "log": [event_view(e) for e in logged[row.id]],
        }
        for row in rows
    ]


def _field_view(field: dict[str, Any], names: _Names) -> dict[str, Any]:
    return {**field, "provider": names.department(field["provider"])}
