"""Decide, attribute by attribute, what may leave the hub: deny by default.

:func:`decide` is pure: it reads only its arguments, and the time only from ``context.now``.
An attribute is released only when a rule below allows it; everything else is denied with a
:class:`~policies.model.DenyReason`. Each attribute goes through these rules in this order, and
the first that settles it wins. The ids in brackets are what ``FieldDecision.rules`` records.

1. **Purpose** (目的限定). The query's purpose must be one the system registered
   [``purpose.unregistered``], and an attribute asked through a service item must be asked for
   the purpose the item names [``purpose.item_mismatch``]. Else ``purpose_mismatch``.
2. **Not shared** (不予共享) [``sharing.not_shared``]: ``not_shared``, whatever any agreement says.
   **Sharing method** (共享方式): the field's resource must offer the way the system asks
   (``context.channel``: ``interface`` for a query, ``verification`` for a verify), else
   ``method_not_offered`` [``sharing.method_not_offered``], whatever any agreement says; a
   resource offered only for verification is never released by a query.
3. **Unconditional** (无条件共享) [``sharing.unconditional``]: allowed, released as the catalogue's
   default transform.
4. **Conditional** (有条件共享): allowed only under a grant (共享协议) [``agreement:<id>``] for this
   system, the field's resource, the field, the query's purpose, and valid now
   (``valid_from <= now < valid_until``). Released as the grant's override for the field, else
   the catalogue default. No such grant: ``not_granted`` [``default.deny``]. A grant whose
   override is ``derived`` allows only predicates over the field: a plain request of the field
   under such grants alone is ``derived_only`` [``release.derived_only``]. Grants whose daily
   quota is used up do not count; if they were the only ones, ``quota_exceeded``
   [``quota.exceeded``]. Among several grants: one that needs no consent first, then the least
   revealing release, then the lowest agreement id.
5. **Consent** (单独同意). Needed when the field is sensitive personal information (PIPL art. 28)
   and no legal basis the provider accepted waives it, or when the deciding grant requires it.
   A legal basis waives it only when the request states one (a service item's entry) and the
   provider accepted that same basis: the field's ``consent_waived_by`` in the provider's
   catalogue, or the legal basis of the deciding grant, which the provider approved
   [``consent.waived_by_field`` / ``consent.waived_by_agreement``]. A basis only the consumer
   states waives nothing. Bases are compared as written, up to whitespace and full-width /
   half-width forms (NFKC). Met by an
   active consent of this system, for this purpose, covering the field, and, when the query
   names a consent, that one [``consent:<id>``; the lowest id if several]. Unmet:
   ``consent_required`` [``consent.missing``]; when the query names a consent of this system
   that is no longer active, its state instead: ``consent_used``, ``consent_revoked``,
   ``consent_expired`` or ``consent_superseded`` [``consent.inactive``].
6. **Derived attributes** go through the same rules over their base field and, when allowed, are
   released as ``derived`` (true / false only).
7. Any sharing type the engine does not know: ``not_granted`` [``default.deny``].

The obligations of the answer, deduplicated in order of first need: check the row condition of
each deciding grant that has one, count each deciding grant that has a daily quota, use each
consent relied on.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from catalogue.vocabulary import Sensitivity, SharingType
from policies.model import (
    AttributeRequest,
    CheckRowCondition,
    ConsentState,
    CountQuota,
    Decision,
    DenyReason,
    FieldDecision,
    Grant,
    Obligation,
    QueryContext,
    Release,
    UseConsent,
)

__all__ = ["REVEALING", "decide"]

REVEALING: Final[Mapping[Release, int]] = MappingProxyType(
    {
        Release.DERIVED: 0,
        Release.HASH: 1,
        Release.YEAR: 2,
        Release.MASK_ID: 2,
        Release.MASK_NAME: 2,
        Release.CLEAR: 3,
    }
)
"""How much of the value each release gives away; lower is less. Ranks grants."""


@dataclass(frozen=True)
class _Allowance:
    """A sharing rule that allows the attribute, before consent is looked at."""

    release: Release
    rules: tuple[str, ...]
    grant: Grant | None = None


def decide(
    context: QueryContext,
    requests: Sequence[AttributeRequest],
    grants: Sequence[Grant],
    consents: Sequence[ConsentState],
) -> Decision:
    """Every requested attribute's decision, and the obligations of those released."""
    fields: list[FieldDecision] = []
    obligations: list[Obligation] = []
    for request in requests:
        decision, needs = _decide_one(context, request, grants, consents)
        fields.append(decision)
        obligations.extend(needs)
    return Decision(fields=tuple(fields), obligations=tuple(dict.fromkeys(obligations)))


def _decide_one(
    context: QueryContext,
    request: AttributeRequest,
    grants: Sequence[Grant],
    consents: Sequence[ConsentState],
) -> tuple[FieldDecision, tuple[Obligation, ...]]:
    purpose_rule = _purpose_violation(context, request)
    if purpose_rule is not None:
        return _deny(request, DenyReason.PURPOSE_MISMATCH, (purpose_rule,)), ()
    allowance = _sharing(context, request, grants)
    if isinstance(allowance, FieldDecision):
        return allowance, ()
    return _consented(context, request, allowance, consents)


def _purpose_violation(context: QueryContext, request: AttributeRequest) -> str | None:
    if context.purpose not in context.system_purposes:
        return "purpose.unregistered"
    if request.item_purpose is not None and request.item_purpose != context.purpose:
        return "purpose.item_mismatch"
    return None


def _sharing(
    context: QueryContext, request: AttributeRequest, grants: Sequence[Grant]
) -> _Allowance | FieldDecision:
    field = request.field
    if field.sharing is SharingType.NOT_SHARED:
        return _deny(request, DenyReason.NOT_SHARED, ("sharing.not_shared",))
    if context.channel not in field.methods:
        return _deny(request, DenyReason.METHOD_NOT_OFFERED, ("sharing.method_not_offered",))
    if field.sharing is SharingType.UNCONDITIONAL:
        release = Release.of(field.transform)
        return _Allowance(_as_requested(request, release), ("sharing.unconditional",))
    if field.sharing is SharingType.CONDITIONAL:
        return _granted(context, request, grants)
    # Unreachable while the three types above are all there are; a type added to the
    # vocabulary later is refused here until a rule for it is written (mypy then says so).
    return _deny(request, DenyReason.NOT_GRANTED, ("default.deny",))  # type: ignore[unreachable]


def _granted(
    context: QueryContext, request: AttributeRequest, grants: Sequence[Grant]
) -> _Allowance | FieldDecision:
    covering = [grant for grant in grants if _covers(grant, context, request)]
    if not covering:
        return _deny(request, DenyReason.NOT_GRANTED, ("default.deny",))
    usable = [grant for grant in covering if _releases_plainly(grant, request)]
    if not usable:
        return _deny_under(request, DenyReason.DERIVED_ONLY, covering, "release.derived_only")
    open_grants = [grant for grant in usable if _quota_left(grant)]
    if not open_grants:
        return _deny_under(request, DenyReason.QUOTA_EXCEEDED, usable, "quota.exceeded")
    grant = _preferred(open_grants, request)
    release = _as_requested(request, _release(grant, request))
    return _Allowance(release, (f"agreement:{grant.agreement_id}",), grant)


def _covers(grant: Grant, context: QueryContext, request: AttributeRequest) -> bool:
    return (
        grant.system == context.system
        and grant.resource == request.field.resource
        and request.field.name in grant.fields
        and context.purpose in grant.purposes
        and grant.valid_from <= context.now
        and (grant.valid_until is None or context.now < grant.valid_until)
    )


def _release(grant: Grant, request: AttributeRequest) -> Release:
    override = grant.fields[request.field.name]
    return Release.of(request.field.transform) if override is None else override


def _as_requested(request: AttributeRequest, release: Release) -> Release:
    return Release.DERIVED if request.derivation is not None else release


def _releases_plainly(grant: Grant, request: AttributeRequest) -> bool:
    """A derived request goes under any grant; a plain one not under a derived-only override."""
    return request.derivation is not None or _release(grant, request) is not Release.DERIVED


def _quota_left(grant: Grant) -> bool:
    """Whether the count the caller read (``used_today``) leaves room. An early answer only,
    which spares a fetch when the quota is visibly used up: concurrent requests read the same
    count, so the caller must count each use atomically where it records the answer, and take
    back what a quota used up by then would have released (``CountQuota`` obligation)."""
    return grant.daily_quota is None or grant.used_today < grant.daily_quota


def _preferred(grants: Iterable[Grant], request: AttributeRequest) -> Grant:
    return min(
        grants,
        key=lambda g: (g.requires_consent, REVEALING[_release(g, request)], g.agreement_id),
    )


def _consented(
    context: QueryContext,
    request: AttributeRequest,
    allowance: _Allowance,
    consents: Sequence[ConsentState],
) -> tuple[FieldDecision, tuple[Obligation, ...]]:
    grant = allowance.grant
    if not _needs_consent(request, grant):
        waiver = _waiver(request, grant)
        allowed = (
            allowance if waiver is None else replace(allowance, rules=(*allowance.rules, waiver))
        )
        return _allow(request, allowed, None), _grant_obligations(grant)
    consent = _consent_for(context, request, consents)
    if consent is None:
        inactive = _named_inactive(context, consents)
        if inactive is not None:
            rules = (*allowance.rules, "consent.inactive")
            return _deny(request, inactive, rules, grant), ()
        rules = (*allowance.rules, "consent.missing")
        return _deny(request, DenyReason.CONSENT_REQUIRED, rules, grant), ()
    obligations = (*_grant_obligations(grant), UseConsent(consent.consent_id))
    return _allow(request, allowance, consent), obligations


def _needs_consent(request: AttributeRequest, grant: Grant | None) -> bool:
    sensitive = request.field.sensitivity is Sensitivity.SENSITIVE_PERSONAL
    if sensitive and _waiver(request, grant) is None:
        return True
    return grant is not None and grant.requires_consent


def _waiver(request: AttributeRequest, grant: Grant | None) -> str | None:
    """The rule by which a legal basis the provider accepted waives consent to a sensitive
    field, or None: the consumer's word alone never does."""
    if request.field.sensitivity is not Sensitivity.SENSITIVE_PERSONAL:
        return None
    if request.legal_basis is None or not _stated(request.legal_basis):
        return None
    stated = _basis_key(request.legal_basis)
    if any(_basis_key(accepted) == stated for accepted in request.field.consent_waived_by):
        return "consent.waived_by_field"
    if grant is not None and _basis_key(grant.legal_basis) == stated:
        return "consent.waived_by_agreement"
    return None


def _basis_key(legal_basis: str) -> str:
    """A legal basis as compared: NFKC (full-width brackets and digits as half-width), with no
    whitespace (a citation means the same with or without spaces)."""
    return "".join(unicodedata.normalize("NFKC", legal_basis).split())


def _consent_for(
    context: QueryContext, request: AttributeRequest, consents: Sequence[ConsentState]
) -> ConsentState | None:
    meeting = [consent for consent in consents if _meets(consent, context, request)]
    return min(meeting, key=lambda consent: consent.consent_id, default=None)


_INACTIVE = {
    "used": DenyReason.CONSENT_USED,
    "revoked": DenyReason.CONSENT_REVOKED,
    "expired": DenyReason.CONSENT_EXPIRED,
    "superseded": DenyReason.CONSENT_SUPERSEDED,
}


def _named_inactive(context: QueryContext, consents: Sequence[ConsentState]) -> DenyReason | None:
    """Why the consent the query names cannot be relied on, if it is this system's and no
    longer active (an unknown or foreign consent id is plain ``consent_required``)."""
    for consent in consents:
        if consent.consent_id == context.consent_id and consent.system == context.system:
            return _INACTIVE.get(consent.status)
    return None


def _meets(consent: ConsentState, context: QueryContext, request: AttributeRequest) -> bool:
    return (
        consent.active
        and consent.system == context.system
        and consent.purpose == context.purpose
        and request.field.attribute in consent.attributes
        and (context.consent_id is None or consent.consent_id == context.consent_id)
    )


def _grant_obligations(grant: Grant | None) -> tuple[Obligation, ...]:
    if grant is None:
        return ()
    obligations: list[Obligation] = []
    if grant.row_condition is not None:
        obligations.append(
            CheckRowCondition(grant.resource, grant.row_condition, grant.agreement_id)
        )
    if grant.daily_quota is not None:
        obligations.append(CountQuota(grant.agreement_id))
    return tuple(obligations)


def _stated(legal_basis: str | None) -> bool:
    return legal_basis is not None and legal_basis.strip() != ""


def _legal_basis(request: AttributeRequest, grant: Grant | None) -> str | None:
    if _stated(request.legal_basis):
        return request.legal_basis
    return grant.legal_basis if grant is not None else None


def _allow(
    request: AttributeRequest, allowance: _Allowance, consent: ConsentState | None
) -> FieldDecision:
    grant = allowance.grant
    consent_rules = () if consent is None else (f"consent:{consent.consent_id}",)
    return FieldDecision(
        attribute=request.attribute,
        field=request.field,
        release=allowance.release,
        reason=None,
        rules=(*allowance.rules, *consent_rules),
        derivation=request.derivation,
        agreement_id=grant.agreement_id if grant is not None else None,
        consent_id=consent.consent_id if consent is not None else None,
        legal_basis=_legal_basis(request, grant),
    )


def _deny(
    request: AttributeRequest,
    reason: DenyReason,
    rules: tuple[str, ...],
    grant: Grant | None = None,
) -> FieldDecision:
    return FieldDecision(
        attribute=request.attribute,
        field=request.field,
        release=None,
        reason=reason,
        rules=rules,
        derivation=request.derivation,
        agreement_id=grant.agreement_id if grant is not None else None,
        legal_basis=_legal_basis(request, grant),
    )


def _deny_under(
    request: AttributeRequest, reason: DenyReason, grants: Sequence[Grant], rule: str
) -> FieldDecision:
    """Denied although grants cover the field: name them, and the rule that refused."""
    ordered = sorted(grants, key=lambda grant: grant.agreement_id)  # not the caller's order
    agreements = tuple(f"agreement:{grant.agreement_id}" for grant in ordered)
    return _deny(request, reason, (*agreements, rule), _preferred(grants, request))
