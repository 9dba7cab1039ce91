"""Builders for the policy engine's inputs: a school-enrolment query against the household
register, with every value a test does not name set to something that passes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from catalogue.vocabulary import ReleaseTransform, Sensitivity, SharingType
from policies.model import (
    AttributeRequest,
    ConsentState,
    Decision,
    FieldDecision,
    FieldInfo,
    Grant,
    QueryContext,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SYSTEM = "edu-enrolment"
PURPOSE = "school-enrolment"
HOUSEHOLD = "PSB-HJ-0001"
LAW = "《中华人民共和国义务教育法》第十二条"


def field(name: str = "registered_address", **changes: Any) -> FieldInfo:
    base = FieldInfo(
        resource=HOUSEHOLD,
        version=3,
        provider="PSB",
        namespace="household",
        name=name,
        sharing=SharingType.CONDITIONAL,
        sensitivity=Sensitivity.PERSONAL,
        transform=ReleaseTransform.CLEAR,
    )
    return replace(base, **changes)


def context(**changes: Any) -> QueryContext:
    base = QueryContext(
        system=SYSTEM,
        department="EDU",
        system_purposes=frozenset({PURPOSE, "identity-check"}),
        purpose=PURPOSE,
        now=NOW,
    )
    return replace(base, **changes)


def grant(*field_names: str, **changes: Any) -> Grant:
    base = Grant(
        agreement_id="AG-1",
        system=SYSTEM,
        consumer_department="EDU",
        resource=HOUSEHOLD,
        purposes=frozenset({PURPOSE}),
        legal_basis=LAW,
        fields=dict.fromkeys(field_names or ("registered_address",)),
        valid_from=NOW - 30 * DAY,
    )
    return replace(base, **changes)


def consent(*attributes: str, **changes: Any) -> ConsentState:
    base = ConsentState(
        consent_id="CS-1",
        system=SYSTEM,
        purpose=PURPOSE,
        attributes=frozenset(attributes or ("household.registered_address",)),
    )
    return replace(base, **changes)


def ask(info: FieldInfo, **changes: Any) -> AttributeRequest:
    return replace(AttributeRequest(attribute=info.attribute, field=info), **changes)


def only(decision: Decision) -> FieldDecision:
    (single,) = decision.fields
    return single
