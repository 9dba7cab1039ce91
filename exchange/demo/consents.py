"""The demo world's consents: one pensioner has given the minimum-living-allowance system a
standing consent to read their pension, another has that system's request waiting for them.

Both go through the same service the API uses (a request with its preview, then the citizen's
approval and its signed receipt), so the demo shows real artefacts. Idempotent: a subject who
already has a consent or a request of the demo's purpose gets nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import System
from exchange.consent import service
from exchange.consent.models import Consent, ConsentMode, ConsentRequest
from exchange.consent.states import request_status
from exchange.hub import Hub
from exchange.query.resolve import resolve_query

__all__ = ["approve", "ask_consent", "seed_consents"]

SYSTEM = "mca-dibao"
PURPOSE = "minimum-living-allowance"
ATTRIBUTES = (
    "social_insurance.pension_amount",
    "social_insurance.months_paid",
    "social_insurance.current_employer_name",
)
OPTIONAL = frozenset({"social_insurance.current_employer_name"})


def ask_consent(
    session: Session, system: System, pseudonym: str, mode: ConsentMode, *, now: datetime
) -> ConsentRequest:
    """The allowance system's request for the demo's pension attributes, of the subject of
    *pseudonym*, through the service the API uses (with its preview)."""
    ask = service.ConsentAsk(
        subject=pseudonym,
        system=system.id,
        department=system.department_code,
        system_purposes=frozenset(system.purposes),
        purpose=PURPOSE,
        purpose_text="最低生活保障家庭经济状况核对（核查养老金收入）",
        attributes=ATTRIBUTES,
        service_item=None,
        optional=OPTIONAL,
        mode=mode,
        valid_days=90,
        retention_days=365,
        max_uses=None,
        answer_within_days=14,
        officer="MCA-0007",
    )
    resolved = resolve_query(
        session, attributes=ATTRIBUTES, service_item=None, department=ask.department
    )
    return service.create_request(session, ask, resolved.requests, now)


def approve(
    session: Session, hub: Hub, pseudonym: str, request: ConsentRequest, *, now: datetime
) -> Consent:
    """The citizen of *pseudonym* approves *request* whole; the receipt is signed as the API
    signs it (by the hub, its issuer the hub's public URL)."""
    return service.approve(
        session,
        hub.keys,
        subject=pseudonym,
        request_id=request.id,
        keep=None,
        now=now,
        issuer=hub.settings.public_url,
    )


def seed_consents(
    session: Session,
    hub: Hub,
    subjects: Sequence[Mapping[str, str]],
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """Give the first consent candidate a standing consent and ask the second; returns what was
    made, by subject (for ``demo.json``, which lists the showcase subjects anyway). The receipt
    is signed as the API signs it: by the hub, its issuer the hub's public URL."""
    candidates = [s for s in subjects if s["kind"] == "consent_candidate"]
    system = session.get(System, SYSTEM)
    if system is None or not candidates:
        return []
    made: list[dict[str, Any]] = []
    for nth, subject in enumerate(candidates[:2]):
        subject_pseudonym = hub.pseudonyms.of(subject["id"])
        earlier = _asked_before(session, subject_pseudonym)
        if earlier is not None:
            made.append(_made(subject["id"], earlier, now))
            continue
        mode = ConsentMode.STANDING if nth == 0 else ConsentMode.ONE_TIME
        request = ask_consent(session, system, subject_pseudonym, mode, now=now)
        if nth == 0:
            consent = approve(session, hub, subject_pseudonym, request, now=now)
            assert consent.id == request.consent_id  # noqa: S101 - approve links them
        made.append(_made(subject["id"], request, now))
    return made


def _made(subject: str, request: ConsentRequest, now: datetime) -> dict[str, Any]:
    status = request_status(request, now).value
    return {
        "subject": subject,
        "request": request.id,
        "consent": request.consent_id,
        "status": status,
    }


def _asked_before(session: Session, subject_pseudonym: str) -> ConsentRequest | None:
    return session.scalars(
        select(ConsentRequest)
        .where(
            ConsentRequest.subject == subject_pseudonym,
            ConsentRequest.system_id == SYSTEM,
            ConsentRequest.purpose == PURPOSE,
        )
        .order_by(ConsentRequest.created_at)
    ).first()
