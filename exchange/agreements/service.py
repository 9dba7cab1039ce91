"""The sharing-agreement workflow (有条件共享): apply, decide, revoke; and what the exchange
needs from it (the active grants of a system, a per-day use counter).

A consumer department's admin applies for conditional fields of a resource for one of its
systems; the provider department's admin approves (possibly fewer fields, with release
overrides, a row condition, a daily quota, a consent requirement, an earlier end) or refuses
with reasons, within 10 working days (国发〔2016〕51号); the provider may revoke an approved
agreement at any time, with immediate effect. Whoever applied (``submitted_by``, the staff
``sub``) never decides the same application, even when their department is both consumer and
provider: another admin of the provider does (``own_application``, 403).

Checks on an application, in this order, each stopping at the first failure: the caller is a
department admin (403); the body matches ``agreement.schema.json`` (422); the system exists
(422) and belongs to the caller's department (403) and has registered the purpose (422,
``agreement_purpose_not_registered``); the resource exists and is not deprecated (422); every
field exists (``unknown_field``), is not ``not_shared`` (``not_shared``) and is not
unconditional (``no_agreement_needed``); the validity ends in the future, after it starts
(422); free text (the justification, the legal basis) holds no control or bidi-formatting
character (422, ``schemas.text``).

Checks on a decision, in this order: the agreement is visible to the caller (404); the caller
is an admin of the provider department (403) and not the one who applied (403
``own_application``); it is still pending (409); then the decision itself (422).

Every function takes the caller's session and never commits. ``active_grants`` and
``count_use`` live in ``grants`` and are re-exported here.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import Resource, ResourceField, System
from catalogue.vocabulary import SharingType
from exchange.agreements.applications import (
    ReplyClocks,
    check_use,
    require_answerable,
    require_declared_conditions,
    require_officer,
    working_day_after,
)
from exchange.agreements.errors import (
    AgreementPurposeNotRegistered,
    AlreadyDecided,
    InvalidApplication,
    InvalidDecision,
    NoAgreementNeeded,
    NotRevocable,
    NotShared,
    OwnApplication,
    UnknownField,
)
from exchange.agreements.grants import active_grants, count_use
from exchange.agreements.lifecycle import log_agreement_event
from exchange.agreements.models import Agreement, AgreementEvent, AgreementStatus, Origin
from exchange.agreements.reading import visible_agreement
from exchange.agreements.terms import sign_terms
from exchange.agreements.workdays import CHINA_TZ, add_working_days, china_day, official_calendar
from exchange.audit.lifecycle import hold_log
from exchange.errors import Forbidden
from exchange.security.identity import Principal, Role
from exchange.security.keys import HubKeys
from policies.model import Release, RowCondition
from schemas import ProblemDetail, explain_all, validator
from schemas.text import document_text_problems

__all__ = [
    "ANSWER_WITHIN_WORKING_DAYS",
    "Actor",
    "Approval",
    "Refusal",
    "active_grants",
    "apply_for_agreement",
    "catalogue_fields",
    "count_use",
    "decide_application",
    "due_date",
    "new_agreement_id",
    "parse_instant",
    "record_event",
    "require_agreeable_fields",
    "revoke_agreement",
]

ANSWER_WITHIN_WORKING_DAYS = 10
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


@dataclass(frozen=True)
class Approval:
    """The provider approves ``fields`` (a subset of those applied for), with conditions."""

    fields: tuple[str, ...]
    overrides: Mapping[str, Release] = field(default_factory=dict)
    row_condition: RowCondition | None = None
    daily_quota: int | None = None
    requires_consent: bool = False
    valid_until: datetime | None = None  # no later than the application asked for


@dataclass(frozen=True)
class Refusal:
    """The provider refuses, with reasons (不予批准须说明理由)."""

    reason: str


def new_agreement_id() -> str:
    return "AG-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def due_date(submitted_at: datetime, working_days: int = ANSWER_WITHIN_WORKING_DAYS) -> date:
    """The last day the provider may answer: *working_days* (the conditional reply clock,
    ``application_conditional_reply_working_days``) after the day of submission."""
    return add_working_days(china_day(submitted_at), working_days, official_calendar())


def parse_instant(value: str, *, end_of_day: bool, at: str) -> datetime:
    """A date (a whole day, China Standard Time: its start, or with ``end_of_day`` the start of
    the next day) or an RFC 3339 date-time with offset; :class:`InvalidApplication` otherwise."""
    try:
        if "T" not in value:
            start = datetime.combine(date.fromisoformat(value), datetime.min.time(), CHINA_TZ)
            return start + timedelta(days=1) if end_of_day else start
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidApplication(
            "not a valid date or date-time", errors=[ProblemDetail(pointer=at, detail="invalid")]
        ) from None
    if parsed.tzinfo is None:
        raise InvalidApplication(
            "a date-time needs its offset",
            errors=[ProblemDetail(pointer=at, detail="missing offset")],
        )
    return parsed


def apply_for_agreement(
    session: Session,
    principal: Principal,
    application: Mapping[str, Any],
    *,
    now: datetime,
    clocks: ReplyClocks | None = None,
) -> Agreement:
    """File an application (pending); see the module docstring for the checks. One with
    ``use`` is in the 2025 form (:mod:`exchange.agreements.applications`): filed by the
    consumer's sharing officer, on the reply clock of its fields."""
    clocks = clocks or ReplyClocks()
    form_2025 = "use" in application
    if form_2025 and principal.role is not Role.SHARING_OFFICER:
        raise Forbidden("an application is filed and signed off by a sharing officer")
    if not form_2025 and principal.role is not Role.DEPARTMENT_ADMIN:
        raise Forbidden("only a department administrator may apply for an agreement")
    if "kind" in application:
        raise InvalidApplication(
            "an application has no 'kind'; agreement documents are loaded, not applied for",
            errors=[ProblemDetail(pointer="/kind", detail="unknown element")],
        )
    problems = explain_all(validator("agreement").iter_errors(dict(application)))
    if not problems:
        problems = list(document_text_problems(application))
    if problems:
        raise InvalidApplication("the application is not valid", errors=problems)
    system = _consumer_system(session, application["system"], application["purpose"])
    if system.department_code != principal.department:
        raise Forbidden(f"only an administrator of department {system.department_code} may apply")
    resource, sharing = catalogue_fields(session, application["resource"])
    use = application.get("use")
    if use is not None:
        check_use(session, resource, use)
    modes = set((use or {}).get("sharing_modes") or ["interface"])
    require_agreeable_fields(
        resource.code, application["fields"], sharing, unconditional=modes != {"interface"}
    )
    reply_days = (
        clocks.reply_days(application["fields"], sharing) if use is not None else clocks.conditional
    )
    requested_from = (
        parse_instant(application["valid_from"], end_of_day=False, at="/valid_from")
        if "valid_from" in application
        else None
    )
    requested_until = parse_instant(application["valid_until"], end_of_day=True, at="/valid_until")
    _require_validity(requested_from, requested_until, now)
    agreement = Agreement(
        id=new_agreement_id(),
        origin=Origin.APPLICATION,
        status=AgreementStatus.PENDING,
        system_id=system.id,
        consumer_department=system.department_code,
        provider_department=resource.provider_code,
        resource_code=resource.code,
        resource_version=resource.latest_version,
        fields=list(application["fields"]),
        purposes=[application["purpose"]],
        legal_basis=application["legal_basis"],
        justification=application["justification"],
        requested_from=requested_from,
        requested_until=requested_until,
        submitted_at=now,
        submitted_by=principal.subject,
        due_by=working_day_after(now, reply_days),
        requires_consent=False,
        use=dict(use) if use is not None else None,
        reply_working_days=reply_days if use is not None else None,
    )
    hold_log(session)
    session.add(agreement)
    session.flush()
    detail: dict[str, Any] = {"fields": agreement.fields, "purpose": application["purpose"]}
    if use is not None:
        detail.update(use=agreement.use, reply_working_days=reply_days)
    record_event(session, agreement, _actor(principal), "applied", now, detail)
    log_agreement_event(session, agreement, "applied")
    return agreement


def _consumer_system(session: Session, system_id: str, purpose: str) -> System:
    system = session.get(System, system_id)
    if system is None:
        raise InvalidApplication(
            f"no system {system_id!r} is registered",
            errors=[ProblemDetail(pointer="/system", detail="unknown system")],
        )
    if purpose not in system.purposes:
        raise AgreementPurposeNotRegistered(
            f"system {system_id!r} has not registered the purpose {purpose!r}",
            errors=[ProblemDetail(pointer="/purpose", detail="not registered for the system")],
        )
    return system


def catalogue_fields(session: Session, code: str) -> tuple[Resource, dict[str, str]]:
    """The resource and the sharing type of each field of its latest version; 422 when it is
    unknown or deprecated."""
    resource = session.get(Resource, code)
    if resource is None:
        raise InvalidApplication(
            f"no resource {code!r} in the catalogue",
            errors=[ProblemDetail(pointer="/resource", detail="unknown resource")],
        )
    if resource.deprecated_at is not None:
        raise InvalidApplication(
            f"resource {code!r} is deprecated",
            errors=[ProblemDetail(pointer="/resource", detail="deprecated")],
        )
    rows = session.scalars(
        select(ResourceField).where(
            ResourceField.resource_code == code, ResourceField.version == resource.latest_version
        )
    )
    return resource, {f.name: f.sharing_type for f in rows}


_RELEASE_FITS: Mapping[str, frozenset[str]] = {
    "mask_id": frozenset({"string"}),
    "mask_name": frozenset({"string", "array"}),
    "year": frozenset({"date", "datetime"}),
}
"""The field data types a release override can be applied to; others (clear, hash, derived)
fit any field."""


def unfitting_override(
    session: Session, resource: Resource, overrides: Mapping[str, str | None]
) -> tuple[str, str, str] | None:
    """The first (field, release, data type) whose override cannot apply to the field's
    values (a name mask on a number), or None."""
    rows = session.execute(
        select(ResourceField.name, ResourceField.data_type).where(
            ResourceField.resource_code == resource.code,
            ResourceField.version == resource.latest_version,
        )
    )
    types = {name: data_type for name, data_type in rows}
    for name, release in overrides.items():
        fits = _RELEASE_FITS.get(release or "")
        if fits is not None and types.get(name) not in fits:
            return name, str(release), str(types.get(name))
    return None


def require_agreeable_fields(
    resource: str, fields: Sequence[str], sharing: Mapping[str, str], *, unconditional: bool = False
) -> None:
    """Every field exists and is conditional (or, with *unconditional*, an application for a
    batch or file channel, unconditional too): unknown fields first, then not-shared ones,
    then unconditional ones; each error lists every offending field of its kind."""
    unknown = [(i, f) for i, f in enumerate(fields) if f not in sharing]
    if unknown:
        raise UnknownField(
            f"resource {resource} has no field {unknown[0][1]!r}",
            errors=[
                ProblemDetail(pointer=f"/fields/{i}", detail="unknown field") for i, _ in unknown
            ],
        )
    checks: list[tuple[SharingType, type[InvalidApplication], str]] = [
        (
            SharingType.NOT_SHARED,
            NotShared,
            "is not shared (不予共享); no agreement can release it",
        ),
        (
            SharingType.UNCONDITIONAL,
            NoAgreementNeeded,
            "is shared unconditionally; no agreement is needed",
        ),
    ]
    for kind, error, text in checks[:1] if unconditional else checks:
        bad = [(i, f) for i, f in enumerate(fields) if sharing[f] == kind.value]
        if bad:
            raise error(
                f"field {bad[0][1]!r} of {resource} {text}",
                errors=[
                    ProblemDetail(pointer=f"/fields/{i}", detail=f"{f} {text}") for i, f in bad
                ],
            )


def _require_validity(start: datetime | None, end: datetime, now: datetime) -> None:
    if end <= now:
        raise InvalidApplication(
            "the validity must end in the future",
            errors=[ProblemDetail(pointer="/valid_until", detail="in the past")],
        )
    if start is not None and start >= end:
        raise InvalidApplication(
            "the validity must start before it ends",
            errors=[ProblemDetail(pointer="/valid_from", detail="not before valid_until")],
        )


def decide_application(
    session: Session,
    principal: Principal,
    agreement_id: str,
    decision: Approval | Refusal,
    *,
    keys: HubKeys,
    now: datetime,
    clocks: ReplyClocks | None = None,
) -> Agreement:
    """Approve or refuse a pending application, as an admin of the provider department (a
    2025-form one: as its sharing officer, on time, with its materials complete, imposing no
    condition the catalogue does not declare; an approval starts the delivery clock). An
    approval signs the terms the exchange will enforce with the hub's *keys*; either decision
    is a lifecycle entry in the audit log, in the caller's transaction."""
    clocks = clocks or ReplyClocks()
    hold_log(session)  # the log's head lock before the agreement's row lock
    agreement = visible_agreement(session, principal, agreement_id, lock=True)
    if agreement.use is None:
        _require_provider_admin(principal, agreement, "decide on")
    else:
        require_officer(principal, agreement.provider_department, "reply to this application")
    if agreement.submitted_by == principal.subject:
        raise OwnApplication(
            f"agreement {agreement.id} was applied for by the caller; another administrator of"
            f" department {agreement.provider_department} must decide it"
        )
    if agreement.status != AgreementStatus.PENDING:
        raise AlreadyDecided(f"agreement {agreement.id} is already {agreement.status}")
    if agreement.use is not None:
        require_answerable(agreement, now)
        if isinstance(decision, Approval):
            require_declared_conditions(
                session,
                agreement,
                overrides=decision.overrides,
                row_condition=decision.row_condition,
                daily_quota=decision.daily_quota,
                requires_consent=decision.requires_consent,
            )
    agreement.decided_at = now
    agreement.decided_by = principal.subject
    if isinstance(decision, Refusal):
        agreement.status = AgreementStatus.REFUSED
        agreement.refusal_reason = _reason(decision.reason)
        detail: dict[str, Any] = {"reason": agreement.refusal_reason}
        record_event(session, agreement, _actor(principal), "refused", now, detail)
        log_agreement_event(session, agreement, "refused")
        return agreement
    _approve(session, agreement, decision, now)
    sign_terms(session, keys, agreement, now=now)
    if agreement.use is not None:
        agreement.delivery_due_by = working_day_after(now, clocks.delivery)
    detail = {
        "fields": agreement.granted,
        "row_condition": agreement.row_condition,
        "daily_quota": agreement.daily_quota,
        "requires_consent": agreement.requires_consent,
    }
    if agreement.delivery_due_by is not None:
        detail["delivery_due_by"] = agreement.delivery_due_by.isoformat()
    record_event(session, agreement, _actor(principal), "approved", now, detail)
    log_agreement_event(session, agreement, "approved")
    return agreement


def _approve(session: Session, agreement: Agreement, approval: Approval, now: datetime) -> None:
    if not approval.fields:
        raise _bad_decision("approve at least one field", "/fields")
    for i, name in enumerate(approval.fields):
        if name not in agreement.fields:
            raise _bad_decision(f"field {name!r} was not applied for", f"/fields/{i}")
    granted = list(dict.fromkeys(approval.fields))
    for name in approval.overrides:
        if name not in granted:
            raise _bad_decision(
                f"override for {name!r}, which is not approved", f"/overrides/{name}"
            )
    resource, sharing = catalogue_fields(session, agreement.resource_code)
    overrides = {name: release.value for name, release in approval.overrides.items()}
    unfit = unfitting_override(session, resource, overrides)
    if unfit is not None:
        name, release, data_type = unfit
        raise _bad_decision(
            f"release {release} cannot apply to {name!r} ({data_type})", f"/overrides/{name}"
        )
    if approval.row_condition is not None and approval.row_condition.field not in sharing:
        raise _bad_decision(
            f"resource {agreement.resource_code} has no field {approval.row_condition.field!r}",
            "/row_condition/field",
        )
    requested_until = agreement.requested_until
    until = approval.valid_until or requested_until
    if until is None or requested_until is None or until > requested_until:
        raise _bad_decision("the validity cannot end later than applied for", "/valid_until")
    valid_from = max(agreement.requested_from or now, now)
    if until <= valid_from:
        raise _bad_decision("the validity would already have ended", "/valid_until")
    agreement.status = AgreementStatus.APPROVED
    agreement.granted = {f: _release(approval.overrides.get(f)) for f in granted}
    agreement.row_condition = (
        {"field": approval.row_condition.field, "prefix": approval.row_condition.prefix}
        if approval.row_condition
        else None
    )
    agreement.daily_quota = approval.daily_quota
    agreement.requires_consent = approval.requires_consent
    agreement.valid_from = valid_from
    agreement.valid_until = until


def _release(value: Release | None) -> str | None:
    return None if value is None else value.value


def _bad_decision(message: str, at: str) -> InvalidDecision:
    return InvalidDecision(message, errors=[ProblemDetail(pointer=at, detail=message)])


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise _bad_decision("a reason is required", "/reason")
    return reason


def revoke_agreement(
    session: Session, principal: Principal, agreement_id: str, *, reason: str, now: datetime
) -> Agreement:
    """Revoke an approved agreement, as an admin of the provider; effective at once. The
    revocation is a lifecycle entry in the audit log, in the caller's transaction."""
    hold_log(session)
    agreement = visible_agreement(session, principal, agreement_id, lock=True)
    _require_provider_admin(principal, agreement, "revoke")
    if agreement.status != AgreementStatus.APPROVED:
        raise NotRevocable(
            f"agreement {agreement.id} is {agreement.status}; only an approved one can be revoked"
        )
    agreement.status = AgreementStatus.REVOKED
    agreement.revoked_at = now
    agreement.revoked_by = principal.subject
    agreement.revocation_reason = _reason(reason)
    detail = {"reason": agreement.revocation_reason}
    record_event(session, agreement, _actor(principal), "revoked", now, detail)
    log_agreement_event(session, agreement, "revoked")
    return agreement


def _require_provider_admin(principal: Principal, agreement: Agreement, action: str) -> None:
    if (
        principal.role is not Role.DEPARTMENT_ADMIN
        or principal.department != agreement.provider_department
    ):
        raise Forbidden(
            f"only an administrator of department {agreement.provider_department} may {action}"
            " this agreement"
        )


@dataclass(frozen=True)
class Actor:
    """Who an event is recorded against."""

    subject: str
    role: str
    department: str | None = None


def _actor(principal: Principal) -> Actor:
    return Actor(principal.subject, principal.role.value, principal.department)


def record_event(
    session: Session,
    agreement: Agreement,
    actor: Actor,
    action: str,
    now: datetime,
    detail: dict[str, Any],
) -> None:
    session.add(
        AgreementEvent(
            agreement_id=agreement.id,
            at=now,
            actor=actor.subject,
            actor_role=actor.role,
            actor_department=actor.department,
            action=action,
            detail=detail,
        )
    )
    session.flush()
