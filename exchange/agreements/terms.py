"""An agreement's signed terms: what the exchange enforces of it, as the hub signs it (JWS
``tongban-agreement+jwt``, verifiable against the hub's JWKS), stored in ``agreements.terms``.

The terms are the parties (the consumer system and its department, the provider), the
resource and its version, each field with its granted release, the purposes, the row
condition, the daily quota, whether consent is required, the validity and the decision (when,
by whom). A row whose enforced columns differ from the terms it carries is not relied on
(:mod:`exchange.agreements.lifecycle`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange.agreements.models import Agreement
from exchange.security.keys import HubKeys

__all__ = ["AGREEMENT_TYP", "agreement_terms", "sign_terms"]

AGREEMENT_TYP = "tongban-agreement+jwt"


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def agreement_terms(agreement: Agreement) -> dict[str, Any]:
    """The terms of *agreement* as its row holds them (an application's: the fields applied
    for, with no release, and no validity yet)."""
    granted = agreement.granted
    fields = dict(granted) if granted is not None else dict.fromkeys(agreement.fields)
    condition = agreement.row_condition
    return {
        "id": agreement.id,
        "version": 1,
        "system": agreement.system_id,
        "consumer_department": agreement.consumer_department,
        "provider_department": agreement.provider_department,
        "resource": {"code": agreement.resource_code, "version": agreement.resource_version},
        "fields": {name: fields[name] for name in sorted(fields)},
        "purposes": list(agreement.purposes),
        "row_condition": dict(condition) if condition else None,
        "daily_quota": agreement.daily_quota,
        "requires_consent": bool(agreement.requires_consent),
        "valid_from": _instant(agreement.valid_from),
        "valid_until": _instant(agreement.valid_until),
        "decided_at": _instant(agreement.decided_at),
        "decided_by": agreement.decided_by,
    }


def sign_terms(session: Session, keys: HubKeys, agreement: Agreement, *, now: datetime) -> str:
    """The terms of *agreement* signed by the hub at *now*; stored in its ``terms``."""
    payload = {
        "iat": int(now.timestamp()),
        "jti": agreement.id,
        "agreement": agreement_terms(agreement),
    }
    token = keys.sign(session, payload, typ=AGREEMENT_TYP)
    agreement.terms = token
    return token
