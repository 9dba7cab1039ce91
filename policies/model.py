"""What the policy engine reads and what it answers: plain, frozen values, no I/O.

The exchange builds these from the catalogue, the agreements and the consents, hands them to
:func:`policies.engine.decide` with the clock it wants used, and carries out the obligations of
the answer (check a row condition, count a quota, use up a consent).

Attribute names are ``<namespace>.<field>`` (``household.registered_address``) for a field, and
``<namespace>.<predicate>(<argument>)`` (``household.age_at_least(18)``,
``property.owns_property_in(330106)``) for a predicate derived from one field: the answer is
``true`` / ``false``, never the field's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from catalogue.vocabulary import ReleaseTransform, Sensitivity, SharingMethod, SharingType

__all__ = [
    "AttributeRequest",
    "CheckRowCondition",
    "ConsentState",
    "CountQuota",
    "Decision",
    "DenyReason",
    "Derivation",
    "FieldDecision",
    "FieldInfo",
    "Grant",
    "Obligation",
    "QueryContext",
    "Release",
    "RowCondition",
    "UseConsent",
]


class Release(StrEnum):
    """How a permitted attribute leaves the hub."""

    CLEAR = "clear"
    MASK_ID = "mask_id"  # first 6 and last 4 kept
    MASK_NAME = "mask_name"  # surname kept
    HASH = "hash"  # keyed hash (HMAC-SHA-256 under a per-consumer key)
    YEAR = "year"  # a date released as its year
    DERIVED = "derived"  # only a predicate over the field (true / false)

    @classmethod
    def of(cls, transform: ReleaseTransform) -> Release:
        return cls(transform.value)


class DenyReason(StrEnum):
    """Why an attribute is refused; stable codes, shown to the consumer."""

    NOT_SHARED = "not_shared"  # 不予共享: never leaves through the hub
    NOT_GRANTED = "not_granted"  # conditional, and no active agreement covers it
    CONSENT_REQUIRED = "consent_required"  # needs the citizen's active consent
    CONSENT_USED = "consent_used"  # the consent named was used up (one-time, or max uses)
    CONSENT_REVOKED = "consent_revoked"  # the consent named was withdrawn by the citizen
    CONSENT_EXPIRED = "consent_expired"  # the consent named has passed its expiry
    CONSENT_SUPERSEDED = "consent_superseded"  # the consent named was replaced by a new version
    PURPOSE_MISMATCH = "purpose_mismatch"  # not this system's purpose, or not the item's
    QUOTA_EXCEEDED = "quota_exceeded"  # the agreement's daily quota is used up
    DERIVED_ONLY = "derived_only"  # the grant allows predicates over the field, not its value
    METHOD_NOT_OFFERED = "method_not_offered"  # the resource is not offered this way (共享方式)
    RELEASE_TOO_COARSE = "release_too_coarse"  # verify: the claim says more than the release


@dataclass(frozen=True)
class FieldInfo:
    """One catalogue field (信息项) of the latest published version of its resource."""

    resource: str  # REG-BDC-0001
    version: int
    provider: str  # department code of the provider
    namespace: str  # property
    name: str  # division
    sharing: SharingType
    sensitivity: Sensitivity
    transform: ReleaseTransform = ReleaseTransform.CLEAR  # the catalogue's default release
    # The legal bases the provider accepts as waiving consent to this (sensitive) field.
    consent_waived_by: frozenset[str] = frozenset()
    # The resource's sharing methods (共享方式, ``sharing.method``); the exchange always passes
    # the catalogue's list. The default is the two ways the hub serves, for hand-built values.
    methods: frozenset[SharingMethod] = frozenset(
        {SharingMethod.INTERFACE, SharingMethod.VERIFICATION}
    )

    @property
    def attribute(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True)
class Derivation:
    """A predicate over one field: ``age_at_least`` (birth date), ``resides_in`` (division
    code prefix), ``owns_property_in`` (division code prefix, over every record)."""

    predicate: str
    argument: str


@dataclass(frozen=True)
class AttributeRequest:
    """One requested attribute, resolved against the catalogue by the exchange."""

    attribute: str  # as requested
    field: FieldInfo  # the field read from the source
    derivation: Derivation | None = None
    legal_basis: str | None = None  # from the service item's entry, when asked through one
    item_purpose: str | None = None  # the purpose the service item's entry names
    required: bool = True


@dataclass(frozen=True)
class QueryContext:
    """Who asks, for what, and when."""

    system: str
    department: str
    system_purposes: frozenset[str]
    purpose: str
    now: datetime
    service_item: str | None = None
    officer: str | None = None
    consent_id: str | None = None  # the consent the request names, if any
    # How the system asks: ``interface`` (POST /exchange/query) or ``verification``
    # (POST /exchange/verify); a resource must offer it (catalogue ``sharing.method``).
    channel: SharingMethod = SharingMethod.INTERFACE


@dataclass(frozen=True)
class RowCondition:
    """Only records whose ``field`` starts with ``prefix`` may be released (e.g. a division)."""

    field: str
    prefix: str


@dataclass(frozen=True)
class Grant:
    """An approved sharing agreement (共享协议), as the engine sees it."""

    agreement_id: str
    system: str  # the consumer system
    consumer_department: str
    resource: str
    purposes: frozenset[str]
    legal_basis: str
    fields: Mapping[str, Release | None]  # granted field -> override (None: catalogue default)
    valid_from: datetime
    valid_until: datetime | None = None
    row_condition: RowCondition | None = None
    daily_quota: int | None = None
    used_today: int = 0
    requires_consent: bool = False


@dataclass(frozen=True)
class ConsentState:
    """A consent the citizen gave, as the engine sees it (already checked to be this
    citizen's). ``status`` is ``given`` while it can be relied on, else ``used``, ``revoked``,
    ``expired`` or ``superseded`` (the exchange works it out from the artefact and the time)."""

    consent_id: str
    system: str
    purpose: str
    attributes: frozenset[str]  # field attributes, ``namespace.field``
    status: str = "given"

    @property
    def active(self) -> bool:
        return self.status == "given"


@dataclass(frozen=True)
class CheckRowCondition:
    """Release the resource's fields only if the record meets the condition."""

    resource: str
    condition: RowCondition
    agreement_id: str


@dataclass(frozen=True)
class CountQuota:
    agreement_id: str


@dataclass(frozen=True)
class UseConsent:
    consent_id: str


Obligation = CheckRowCondition | CountQuota | UseConsent


@dataclass(frozen=True)
class FieldDecision:
    """The answer for one attribute: released how, or denied why; and by which rules."""

    attribute: str
    field: FieldInfo
    release: Release | None
    reason: DenyReason | None
    rules: tuple[str, ...]
    derivation: Derivation | None = None
    agreement_id: str | None = None
    consent_id: str | None = None
    legal_basis: str | None = None

    @property
    def allowed(self) -> bool:
        return self.release is not None


@dataclass(frozen=True)
class Decision:
    """Every attribute's decision, and what the exchange must do before releasing."""

    fields: tuple[FieldDecision, ...]
    obligations: tuple[Obligation, ...] = field(default=())

    def released(self) -> tuple[FieldDecision, ...]:
        return tuple(d for d in self.fields if d.allowed)

    def denied(self) -> tuple[FieldDecision, ...]:
        return tuple(d for d in self.fields if not d.allowed)

    def fields_to_fetch(self) -> dict[str, set[str]]:
        """Per resource, the source fields that may be read: released fields, plus the
        fields a row condition needs to be checked. Nothing else is ever fetched."""
        wanted: dict[str, set[str]] = {}
        for decision in self.released():
            wanted.setdefault(decision.field.resource, set()).add(decision.field.name)
        for obligation in self.obligations:
            if isinstance(obligation, CheckRowCondition) and obligation.resource in wanted:
                wanted[obligation.resource].add(obligation.condition.field)
        return wanted
