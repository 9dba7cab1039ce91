"""Python types of the documents the hub produces for others to keep: the audit entry, the
evidence of an exchange answer, and the consent artefact in its signed receipt.

Each :class:`~typing.TypedDict` here has the members of its JSON Schema in ``json/``
(``audit-entry``, ``evidence``, ``consent-artefact``), which is the authority on the values they
may hold (patterns, enumerations, which members go together); ``tests/schemas`` checks that the
documents the real code produces validate against them. A member that may be absent is
``NotRequired``; one that is always present but may be null is ``X | None``. (No postponed
annotations here, so that ``__required_keys__`` is right at run time.)
"""

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "AuditEntry",
    "AuditKind",
    "AuditReceipt",
    "AuditedAttribute",
    "BudgetSpent",
    "ConsentArtefact",
    "ConsentController",
    "ConsentPurpose",
    "ConsentReceipt",
    "ConsentedField",
    "DisputedMark",
    "EvidencePayload",
    "EvidenceSubject",
    "LifecycleEntry",
    "LifecycleKind",
    "LifecycleObject",
    "OriginEvidence",
    "Provenance",
    "RelayedFor",
    "RelayedRead",
    "ReleasedAttribute",
]

# -- the audit entry (audit-entry.schema.json) ----------------------------------------------

AuditKind = Literal["query", "verify", "event"]


class AuditedAttribute(TypedDict):
    """One attribute as the audit log holds it: what happened and why, never its value."""

    outcome: str  # released | withheld | denied | unavailable
    resource: str
    version: int
    rules: list[str]
    release: NotRequired[str]
    reason: NotRequired[str]  # with denied and unavailable only
    agreement: NotRequired[str]
    consent: NotRequired[str]
    legal_basis: NotRequired[str]
    basis: NotRequired[str]  # statutory_duty | consent | other (docs/notice.md)
    basis_other: NotRequired[str]  # with other: the rule that allowed it
    verified: NotRequired[str]  # a verify's match | no_match


class BudgetSpent(TypedDict):
    """Which budget refused a request (outcome ``budget_exhausted`` only)."""

    counter: str  # no_match | arguments
    field: str


class RelayedFor(TypedDict):
    """A query a peer hub relayed (federation): that hub, its original caller, its request."""

    hub: str
    system: str
    department: str
    officer: str | None
    request_id: str
    release: NotRequired[dict[str, str]]  # attribute as asked -> the most revealing form


class RelayedRead(TypedDict):
    """One read relayed to an origin hub: which hub, its request id and audit log index, and
    whether its answer was used (``verified``) or not (``refused``, ``unverifiable``,
    ``unreachable``)."""

    hub: str
    peer: str
    request_id: str | None
    index: int | None
    outcome: str


class AuditEntry(TypedDict):
    """One exchange request as the Merkle log holds it (its RFC 8785 bytes are the leaf).

    ``subject`` is the keyed pseudonym of the subject (64 lowercase hex), never the ID number,
    and no member holds an attribute's value."""

    v: Literal[1]
    kind: AuditKind
    request_id: str
    at: str
    system: str
    department: str
    officer: str | None
    subject: str
    purpose: str
    service_item: str | None
    consent: str | None
    attributes: dict[str, AuditedAttribute]
    outcome: str  # released | partial | denied | unavailable | withheld | budget_exhausted
    budget: NotRequired[BudgetSpent]
    relay: NotRequired[RelayedFor]  # the origin hub of a relayed query: who relayed it, for whom
    relayed: NotRequired[list[RelayedRead]]  # the relaying hub: each origin hub it read


LifecycleKind = Literal["consent", "agreement"]


class LifecycleObject(TypedDict):
    """The object of a lifecycle event: which consent or agreement, which version, the event,
    the status it leaves and the digest (base64 SHA-256 of the RFC 8785 bytes) of the signed
    artefact."""

    type: LifecycleKind
    id: str
    version: int
    event: str
    status_after: str
    digest: str
    supersedes: NotRequired[str]  # narrowed only: the consent this version supersedes


class LifecycleEntry(TypedDict):
    """One consent or agreement lifecycle event as the Merkle log holds it (``subject`` and
    ``purpose`` are ``-`` for an agreement)."""

    v: Literal[1]
    kind: LifecycleKind
    request_id: str
    at: str
    system: str
    department: str
    subject: str
    purpose: str
    outcome: str  # the event
    object: LifecycleObject


# -- the evidence (evidence.schema.json) ---------------------------------------------------


class Provenance(TypedDict):
    """Where a released attribute came from."""

    department: str
    resource: str
    version: int
    as_of: str | None
    hub: NotRequired[str]  # relayed: the origin hub's URL


class DisputedMark(TypedDict):
    """The disputed mark (异议标注) of a released attribute: the open correction request on it
    and since when (RFC 3339, UTC)."""

    correction: str
    since: str


class ReleasedAttribute(TypedDict):
    """One released attribute: its value as released, how, and from where; ``disputed`` while
    a correction request on it is open."""

    value: Any
    release: str
    source: Provenance
    disputed: NotRequired[DisputedMark]


class EvidenceSubject(TypedDict):
    id_type: str  # CN-RIC
    id: str


class AuditReceipt(TypedDict):
    """Where a request's audit entry went, and the signed tree head that holds it: its leaf
    index, base64 leaf hash, the tree size its batch committed, the hub's checkpoint of that
    size (a C2SP signed note) and the entry's RFC 9162 inclusion proof in it (base64)."""

    index: int
    leaf_hash: str
    tree_size: int
    checkpoint: str
    inclusion_proof: list[str]


class OriginEvidence(TypedDict):
    """An origin hub's evidence, kept inside the relaying hub's."""

    hub: str
    evidence: str


class EvidencePayload(TypedDict):
    """The claims of the evidence JWS (``typ`` ``tongban-evidence+jwt``): a query's carry
    ``attributes``, a verify's ``verified``, never both."""

    iss: str
    aud: str
    iat: int
    jti: str
    purpose: str
    subject: EvidenceSubject
    audit: AuditReceipt
    attributes: NotRequired[dict[str, ReleasedAttribute]]
    verified: NotRequired[dict[str, str]]  # match | no_match | unavailable | denied
    relay: NotRequired[RelayedFor]  # a relayed query: who relayed it, for whom
    origins: NotRequired[list[OriginEvidence]]  # relayed reads: each origin hub's evidence
    disputed: NotRequired[dict[str, DisputedMark]]  # with verified: compared, disputed claims


# -- the consent artefact (consent-artefact.schema.json) ------------------------------------


class ConsentController(TypedDict):
    system: str
    department: str


class ConsentPurpose(TypedDict):
    code: str
    text: str


class ConsentedField(TypedDict):
    attribute: str
    resource: str
    provider: str
    necessary: bool
    release: str | None


class ConsentArtefact(TypedDict):
    """What a citizen consented to (ISO/IEC 27560 record, Kantara receipt fields); the
    citizen is ``pii_principal``, the audit log's keyed pseudonym."""

    id: str
    version: int
    supersedes: str | None
    request_id: str | None
    pii_principal: str
    controller: ConsentController
    providers: list[str]
    purpose: ConsentPurpose
    legal_basis: str
    fields: list[ConsentedField]
    mode: str  # one_time | standing
    start: str
    expiry: str
    max_uses: int | None
    retention_days: int
    status: Literal["given"]


class ConsentReceipt(TypedDict):
    """The claims of the consent receipt JWS (``typ`` ``tongban-consent+jwt``)."""

    iss: str
    iat: int
    jti: str
    consent: ConsentArtefact
