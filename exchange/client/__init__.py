"""The Python client for case systems (办件系统).

One file, ``sdk.py``, that imports nothing of the project, so a department can copy it into its
own code; here it is ``from exchange.client import TongbanClient``.
"""

from exchange.client.sdk import (
    CLIENT_ASSERTION_TYPE,
    EVIDENCE_TYP,
    Attribute,
    AuditReceipt,
    EvidenceError,
    QueryResult,
    Source,
    TongbanClient,
    TongbanClientError,
    VerifyResult,
)

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "EVIDENCE_TYP",
    "Attribute",
    "AuditReceipt",
    "EvidenceError",
    "QueryResult",
    "Source",
    "TongbanClient",
    "TongbanClientError",
    "VerifyResult",
]
