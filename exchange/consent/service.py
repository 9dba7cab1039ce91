"""Citizen consent (单独同意), the writes: ask, approve or refuse, change, revoke, use, expire.

A case system asks (:func:`create_request`); the hub works out, with the policy engine, exactly
what the consent would let through — a field the system could not get even with consent (not
shared, no agreement, another purpose) refuses the whole request (``not_granted``), so a citizen
is never asked to approve what cannot happen. The request stores that preview; the citizen sees
it, may leave out fields marked optional, and approves (:func:`approve`) or refuses. Approval
makes a consent artefact, signed as a receipt the citizen keeps (:mod:`exchange.consent.artefact`).

The exchange counts each use of a consent a release relied on (:func:`record_use`, on the
consent :func:`exchange.consent.states.lock_consents` locked; a one-time consent is then
``used``). :func:`expire_consents` writes down the expiries the statuses already show
(:mod:`exchange.consent.states`).

Every function takes the caller's session and never commits. Citizens are known here only by
the audit log's keyed pseudonym of their ID number.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import ResourceField
from exchange.agreements.grants import active_grants
from exchange.audit.lifecycle import hold_log
from exchange.consent.artefact import instant, signed_receipt
from exchange.consent.errors import (
    ConsentNotActive,
    ConsentNotFound,
    ConsentRequestAnswered,
    ConsentRequestExpired,
    ConsentRequestNotFound,
    InvalidConsentChoice,
    NotConsentable,
)
from exchange.consent.lifecycle import log_consent_event
from exchange.consent.models import (
    Consent,
    ConsentEvent,
    ConsentMode,
    ConsentRequest,
    ConsentStatus,
    RequestStatus,
)
from exchange.consent.states import effective_status, request_status
from exchange.errors import PurposeNotRegistered
from exchange.security.keys import HubKeys
from policies.engine import decide
from policies.model import AttributeRequest, ConsentState, QueryContext
from schemas import ProblemDetail

__all__ = [
    "ConsentAsk",
    "approve",
    "create_request",
    "expire_consents",
    "record_use",
    "refuse",
    "revoke",
    "supersede",
]

LEGAL_BASIS = (
    "个人信息保护法第十四条、第二十九条：个人单独同意 "
    "(PIPL art. 14 and 29: the individual's separate consent)"
)


@dataclass(frozen=True)
class ConsentAsk:
    """What a case system asks a citizen to consent to."""

    subject: str  # the subject's pseudonym
    system: str
    department: str
    system_purposes: frozenset[str]
    purpose: str
    purpose_text: str
    attributes: Sequence[str] | None
    service_item: str | None
    optional: frozenset[str]
    mode: ConsentMode
    valid_days: int
    retention_days: int
    max_uses: int | None
    answer_within_days: int
    officer: str | None = None


# -- asking --------------------------------------------------------------------------------


def require_purpose(ask: ConsentAsk) -> None:
    """:class:`PurposeNotRegistered` unless the asking system registered the purpose (checked
    before the attributes are even resolved)."""
    if ask.purpose not in ask.system_purposes:
        raise PurposeNotRegistered(f"this system has not registered the purpose {ask.purpose!r}")


def create_request(
    session: Session, ask: ConsentAsk, requests: Sequence[AttributeRequest], now: datetime
) -> ConsentRequest:
    """A pending request with its preview, for ``requests``: the ask's attributes (or service
    item) as the query resolver resolved them. :class:`NotConsentable` if any field could not
    be released to this system for this purpose even with the citizen's consent."""
    require_purpose(ask)
    covered = frozenset(r.field.attribute for r in requests)
    unknown_optional = ask.optional - {r.attribute for r in requests} - covered
    if unknown_optional:
        raise InvalidConsentChoice(
            "optional names attributes the request does not ask for",
            errors=[ProblemDetail(pointer="/optional", detail=a) for a in sorted(unknown_optional)],
        )
    context = QueryContext(
        system=ask.system,
        department=ask.department,
        system_purposes=ask.system_purposes,
        purpose=ask.purpose,
        now=now,
        service_item=ask.service_item,
    )
    preview = ConsentState("preview", ask.system, ask.purpose, covered)
    grants = active_grants(session, system=ask.system, now=now)
    decision = decide(context, requests, grants, [preview])
    refused = {d.attribute: d.reason.value for d in decision.denied() if d.reason is not None}
    if refused:
        raise NotConsentable(
            "even with consent, these attributes could not be released to this system",
            errors=[
                ProblemDetail(pointer=f"/attributes/{a}", detail=reason)
                for a, reason in sorted(refused.items())
            ],
            extensions={"denied": refused},
        )
    fields: dict[str, dict[str, Any]] = {}
    for request, choice in zip(requests, decision.fields, strict=True):
        field = request.field
        optional = request.attribute in ask.optional or field.attribute in ask.optional
        necessary = request.required and not optional
        seen = fields.get(field.attribute)
        if seen is not None:
            seen["necessary"] = seen["necessary"] or necessary
            continue
        fields[field.attribute] = {
            "attribute": field.attribute,
            "resource": field.resource,
            "version": field.version,
            "provider": field.provider,
            "necessary": necessary,
            "release": choice.release.value if choice.release else None,
            "label": _label(session, field.resource, field.version, field.name),
        }
    row = ConsentRequest(
        id=f"cr-{uuid.uuid4()}",
        subject=ask.subject,
        system_id=ask.system,
        consumer_department=ask.department,
        officer=ask.officer,
        purpose=ask.purpose,
        purpose_text=ask.purpose_text,
        service_item=ask.service_item,
        legal_basis=LEGAL_BASIS,
        fields=list(fields.values()),
        mode=ask.mode,
        valid_days=ask.valid_days,
        max_uses=1 if ask.mode is ConsentMode.ONE_TIME else ask.max_uses,
        retention_days=ask.retention_days,
        status=RequestStatus.PENDING,
        created_at=now,
        answer_by=now + timedelta(days=ask.answer_within_days),
    )
    session.add(row)
    session.flush()
    return row


def _label(session: Session, resource: str, version: int, name: str) -> str:
    row = session.get(ResourceField, (resource, version, name))
    return row.title if row is not None else name


# -- answering -----------------------------------------------------------------------------


def _pending_request(
    session: Session, subject: str, request_id: str, now: datetime
) -> ConsentRequest:
    row = session.scalars(
        select(ConsentRequest)
        .where(ConsentRequest.id == request_id, ConsentRequest.subject == subject)
        .with_for_update()
    ).one_or_none()
    if row is None:  # someone else's request is not found either: ids reveal nothing
        raise ConsentRequestNotFound(f"no consent request {request_id!r} for you")
    status = request_status(row, now)
    if status is RequestStatus.EXPIRED:
        raise ConsentRequestExpired(f"the request had to be answered by {instant(row.answer_by)}")
    if status is not RequestStatus.PENDING:
        raise ConsentRequestAnswered(f"the request was already {status.value}")
    return row


def approve(
    session: Session,
    keys: HubKeys,
    *,
    subject: str,
    request_id: str,
    keep: Sequence[str] | None,
    now: datetime,
    issuer: str,
) -> Consent:
    """The citizen approves a pending request, keeping every necessary field and the optional
    ones in *keep* (all of them when *keep* is None)."""
    hold_log(session)
    request = _pending_request(session, subject, request_id, now)
    fields = _chosen(request.fields, keep)
    consent = _drawn_up(
        request,
        fields,
        request_id=request.id,
        now=now,
        expires_at=now + timedelta(days=request.valid_days),
    )
    if consent.mode == ConsentMode.STANDING:
        earlier = session.scalars(
            select(Consent)
            .where(
                Consent.subject == subject,
                Consent.system_id == request.system_id,
                Consent.purpose == request.purpose,
                Consent.mode == ConsentMode.STANDING,
                Consent.status == ConsentStatus.GIVEN,
            )
            .with_for_update()
        ).all()
        for old in earlier:
            if effective_status(old, now) is ConsentStatus.GIVEN:
                _replace(session, old, consent, now)
    request.status = RequestStatus.APPROVED
    request.answered_at = now
    request.consent_id = consent.id
    return _give(session, keys, consent, now, issuer, {"request_id": request.id}, "given")


def refuse(
    session: Session, *, subject: str, request_id: str, reason: str | None, now: datetime
) -> ConsentRequest:
    request = _pending_request(session, subject, request_id, now)
    request.status = RequestStatus.REFUSED
    request.answered_at = now
    request.refusal_reason = reason
    return request


def _chosen(offered: list[dict[str, Any]], keep: Sequence[str] | None) -> list[dict[str, Any]]:
    if keep is None:
        return [dict(f) for f in offered]
    wanted = set(keep)
    names = {f["attribute"] for f in offered}
    unknown = sorted(wanted - names)
    if unknown:
        raise InvalidConsentChoice(
            "fields names attributes the request did not ask for",
            errors=[ProblemDetail(pointer="/fields", detail=a) for a in unknown],
        )
    dropped = sorted(
        f["attribute"] for f in offered if f["necessary"] and f["attribute"] not in wanted
    )
    if dropped:
        raise InvalidConsentChoice(
            "necessary fields cannot be left out; refuse the request instead",
            errors=[ProblemDetail(pointer="/fields", detail=f"{a} is necessary") for a in dropped],
        )
    return [dict(f) for f in offered if f["attribute"] in wanted]


# -- changing and withdrawing ----------------------------------------------------------------


def _own_consent(session: Session, subject: str, consent_id: str) -> Consent:
    row = session.scalars(
        select(Consent)
        .where(Consent.id == consent_id, Consent.subject == subject)
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise ConsentNotFound(f"no consent {consent_id!r} of yours")
    return row


def revoke(session: Session, *, subject: str, consent_id: str, now: datetime) -> Consent:
    """Withdraw a consent at once. Its row lock orders it against queries relying on it: a
    query whose audit batch holds the lock completes first; any later one is refused.
    Revoking a revoked consent again changes nothing."""
    hold_log(session)
    consent = _own_consent(session, subject, consent_id)
    status = effective_status(consent, now)
    if status is ConsentStatus.REVOKED:
        return consent
    if status is not ConsentStatus.GIVEN:
        raise ConsentNotActive(f"the consent is {status.value}; there is nothing to withdraw")
    consent.status = ConsentStatus.REVOKED
    consent.status_at = now
    _event(session, consent, now, "revoked", "citizen", {})
    log_consent_event(session, consent, "revoked")
    return consent


def supersede(
    session: Session,
    keys: HubKeys,
    *,
    subject: str,
    consent_id: str,
    keep: Sequence[str] | None,
    expires_at: datetime | None,
    now: datetime,
    issuer: str,
) -> Consent:
    """The citizen narrows a consent (fewer optional fields, an earlier expiry): a new version
    supersedes the old one, which stops counting at once."""
    hold_log(session)
    old = _own_consent(session, subject, consent_id)
    status = effective_status(old, now)
    if status is not ConsentStatus.GIVEN:
        raise ConsentNotActive(f"the consent is {status.value}; it cannot be changed")
    if expires_at is not None and not now < expires_at <= old.expires_at:
        raise InvalidConsentChoice(
            "a change may only bring the expiry forward, to a time still ahead",
            errors=[ProblemDetail(pointer="/expires_at", detail="between now and the expiry")],
        )
    fields = _chosen(old.fields, keep)
    new = _drawn_up(
        old,
        fields,
        request_id=old.request_id,
        now=now,
        expires_at=expires_at or old.expires_at,
    )
    new.version, new.supersedes = old.version + 1, old.id
    new.use_count, new.last_used_at = old.use_count, old.last_used_at
    _replace(session, old, new, now)
    return _give(session, keys, new, now, issuer, {"supersedes": old.id}, "narrowed")


def _drawn_up(
    terms: ConsentRequest | Consent,
    fields: list[dict[str, Any]],
    *,
    request_id: str | None,
    now: datetime,
    expires_at: datetime,
) -> Consent:
    """A new, unsigned consent (version 1, unused) on the terms of a request or of the consent
    it replaces, for *fields*."""
    return Consent(
        id=f"cn-{uuid.uuid4()}",
        version=1,
        request_id=request_id,
        subject=terms.subject,
        system_id=terms.system_id,
        consumer_department=terms.consumer_department,
        providers=sorted({f["provider"] for f in fields}),
        purpose=terms.purpose,
        purpose_text=terms.purpose_text,
        legal_basis=terms.legal_basis,
        fields=fields,
        mode=terms.mode,
        starts_at=now,
        expires_at=expires_at,
        max_uses=terms.max_uses,
        use_count=0,
        retention_days=terms.retention_days,
        status=ConsentStatus.GIVEN,
        status_at=now,
        receipt="",
    )


def _replace(session: Session, old: Consent, new: Consent, now: datetime) -> None:
    old.status = ConsentStatus.SUPERSEDED
    old.status_at = now
    old.superseded_by = new.id
    _event(session, old, now, "superseded", "citizen", {"by": new.id})
    log_consent_event(session, old, "superseded")


def _give(
    session: Session,
    keys: HubKeys,
    consent: Consent,
    now: datetime,
    issuer: str,
    detail: dict[str, Any],
    lifecycle: str,
) -> Consent:
    session.add(consent)
    session.flush()
    consent.receipt = signed_receipt(session, keys, consent, now=now, issuer=issuer)
    _event(session, consent, now, "given", "citizen", detail)
    log_consent_event(session, consent, lifecycle)
    return consent


# -- using and expiring --------------------------------------------------------------------


def record_use(
    session: Session, consent: Consent, *, now: datetime, request_id: str, system: str
) -> None:
    """Count one use of a consent a release relied on; the last allowed use makes it ``used``."""
    consent.use_count += 1
    consent.last_used_at = now
    detail: dict[str, Any] = {"request_id": request_id}
    _event(session, consent, now, "used", system, detail)
    if consent.max_uses is not None and consent.use_count >= consent.max_uses:
        consent.status = ConsentStatus.USED
        consent.status_at = now


def expire_consents(session: Session, now: datetime) -> int:
    """Write down the expiry of consents and requests whose time has passed (the sweep);
    returns how many changed. Each expiry is a lifecycle entry in the log too."""
    hold_log(session)
    changed = 0
    for consent in session.scalars(
        select(Consent)
        .where(Consent.status == ConsentStatus.GIVEN, Consent.expires_at <= now)
        .with_for_update()
    ).all():
        consent.status = ConsentStatus.EXPIRED
        consent.status_at = consent.expires_at
        _event(session, consent, now, "expired", "hub", {})
        log_consent_event(session, consent, "expired")
        changed += 1
    for request in session.scalars(
        select(ConsentRequest)
        .where(
            ConsentRequest.status == RequestStatus.PENDING,
            ConsentRequest.answer_by <= now,
        )
        .with_for_update()
    ):
        request.status = RequestStatus.EXPIRED
        changed += 1
    return changed


def _event(
    session: Session,
    consent: Consent,
    now: datetime,
    event: str,
    actor: str,
    detail: dict[str, Any],
) -> None:
    session.add(
        ConsentEvent(consent_id=consent.id, at=now, event=event, actor=actor, detail=detail)
    )
