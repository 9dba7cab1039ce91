"""The consent artefact: what the citizen consented to, as the hub signs it into the receipt
the citizen keeps (JWS ``tongban-consent+jwt``, verifiable against the hub's JWKS).

The claims follow the ISO/IEC 27560 consent record and the Kantara consent receipt: the
principal (the keyed pseudonym, never the ID number), the controller (the asking system and its
department), the providers, the purpose, the legal basis, the fields, the mode, the validity,
the uses allowed and the retention.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy.orm import Session

from exchange.consent.models import Consent, ConsentStatus
from exchange.security.keys import HubKeys
from schemas import ConsentArtefact, ConsentedField, ConsentReceipt

__all__ = ["CONSENT_TYP", "artefact", "instant", "signed_receipt"]

CONSENT_TYP = "tongban-consent+jwt"


def artefact(consent: Consent) -> ConsentArtefact:
    """The signed part of a consent: ISO/IEC 27560 record and Kantara receipt fields
    (``consent-artefact.schema.json``, ``$defs/artefact``)."""
    return {
        "id": consent.id,
        "version": consent.version,
        "supersedes": consent.supersedes,
        "request_id": consent.request_id,
        "pii_principal": consent.subject,
        "controller": {"system": consent.system_id, "department": consent.consumer_department},
        "providers": list(consent.providers),
        "purpose": {"code": consent.purpose, "text": consent.purpose_text},
        "legal_basis": consent.legal_basis,
        "fields": [_signed_field(f) for f in consent.fields],
        "mode": consent.mode,
        "start": instant(consent.starts_at),
        "expiry": instant(consent.expires_at),
        "max_uses": consent.max_uses,
        "retention_days": consent.retention_days,
        "status": ConsentStatus.GIVEN.value,
    }


def signed_receipt(
    session: Session, keys: HubKeys, consent: Consent, *, now: datetime, issuer: str
) -> str:
    """The receipt of *consent* (flushed, so that it has its id): its artefact signed by the
    hub, issued by *issuer* (the hub's public URL) at *now*."""
    payload: ConsentReceipt = {
        "iss": issuer,
        "iat": int(now.timestamp()),
        "jti": consent.id,
        "consent": artefact(consent),
    }
    return keys.sign(session, payload, typ=CONSENT_TYP)


def _signed_field(field: Mapping[str, Any]) -> ConsentedField:
    """What the receipt signs of a field the citizen consented to."""
    return {
        "attribute": field["attribute"],
        "resource": field["resource"],
        "provider": field["provider"],
        "necessary": field["necessary"],
        "release": field["release"],
    }


@overload
def instant(moment: datetime) -> str: ...
@overload
def instant(moment: None) -> None: ...
@overload
def instant(moment: datetime | None) -> str | None: ...
def instant(moment: datetime | None) -> str | None:
    """A time as consent artefacts and views give it: RFC 3339 in UTC, to the second."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
