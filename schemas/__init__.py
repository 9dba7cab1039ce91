"""JSON Schemas (2020-12) for every document that crosses a boundary, and the error root.

This package imports nothing from the project. Schemas live as plain files in ``json/`` so that
departments and clients can read them without Python; :func:`validator` returns a ready
``jsonschema`` validator with the cross-file ``$ref`` s resolved. The documents the hub produces
for others to keep (the audit entry, the evidence, the consent receipt) also have Python types
(:mod:`schemas.documents`) for the code that builds them.
"""

from schemas._loader import SCHEMA_NAMES, load_schema, validator
from schemas.documents import (
    AuditedAttribute,
    AuditEntry,
    AuditKind,
    AuditReceipt,
    BudgetSpent,
    ConsentArtefact,
    ConsentController,
    ConsentedField,
    ConsentPurpose,
    ConsentReceipt,
    DisputedMark,
    EvidencePayload,
    EvidenceSubject,
    LifecycleEntry,
    LifecycleKind,
    LifecycleObject,
    OriginEvidence,
    Provenance,
    RelayedFor,
    RelayedRead,
    ReleasedAttribute,
)
from schemas.errors import ProblemDetail, TongbanError
from schemas.explain import explain, explain_all, pointer

__all__ = [
    "SCHEMA_NAMES",
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
    "ProblemDetail",
    "Provenance",
    "RelayedFor",
    "RelayedRead",
    "ReleasedAttribute",
    "TongbanError",
    "explain",
    "explain_all",
    "load_schema",
    "pointer",
    "validator",
]
