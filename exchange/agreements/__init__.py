"""Sharing agreements (共享协议) for conditional fields (有条件共享).

``service``: apply, decide, revoke, and what the exchange needs (``active_grants``,
``count_use``); ``reading``: visibility, status and views; ``documents``: agreements signed
outside the hub, loaded from YAML; ``workdays``: the working-day calendar the provider's
10-day answer is counted on.
"""

from exchange.agreements.documents import (
    LoadOutcome,
    demo_agreement_paths,
    load_agreement_documents,
)
from exchange.agreements.models import AgreementStatus
from exchange.agreements.service import active_grants, count_use

__all__ = [
    "AgreementStatus",
    "LoadOutcome",
    "active_grants",
    "count_use",
    "demo_agreement_paths",
    "load_agreement_documents",
]
