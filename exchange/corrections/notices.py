"""Correction notices: every system that received a corrected attribute is told, verifiably.

A notice is owed when a correction is confirmed (``service.CorrectionDesk.confirm``) and waits
in the system's inbox (``GET /corrections/notices``) until the system acknowledges it. Each time
it is fetched it is delivered as a JWS signed with the hub's keys (``typ``
``tongban-correction+jwt``, verifiable against ``/.well-known/jwks.json`` like the evidence),
carrying the correction id, the subject as the system itself named it, the attribute, the
requests the old value left in, the hub's fingerprints of the value before and after (keyed:
they show that it changed, never what it is), and the **new release**: what a query by that
system for that purpose would release to it now, decided by the policy engine (a system no
longer entitled gets no value, only ``ask_again`` with the reason). The hub keeps no value: the
release is made at delivery, by the exchange pipeline, and audited as that system's query.

Each delivery and each acknowledgment is an audit entry of kind ``correction``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit.lifecycle import hold_log
from exchange.corrections.errors import NoticeNotFound
from exchange.corrections.models import Correction, CorrectionNotice, NoticeStatus
from exchange.corrections.service import log_event, utc_instant
from exchange.security.keys import HubKeys
from exchange.security.subjects import ID_TYPE

__all__ = [
    "NOTICE_TYP",
    "Delivery",
    "acknowledge",
    "notice_payload",
    "record_delivery",
    "sign_notice",
    "waiting",
]

NOTICE_TYP: Final = "tongban-correction+jwt"
INBOX_PAGE: Final = 20


class Delivery:
    """One notice as it is delivered: the row, its correction and the new release."""

    def __init__(
        self,
        notice: CorrectionNotice,
        correction: Correction,
        subject: str,
        answer: Mapping[str, Any] | None,
        refusal: str | None,
    ) -> None:
        self.notice = notice
        self.correction = correction
        self.subject = subject
        self.answer = answer  # the pipeline's answer to the re-release query, if it answered
        self.refusal = refusal  # why nothing was released (a deny reason or an error code)

    @property
    def release(self) -> Mapping[str, Any] | None:
        if self.answer is None:
            return None
        released: Mapping[str, Any] | None = self.answer["attributes"].get(
            self.correction.attribute
        )
        return released

    @property
    def why_not(self) -> str | None:
        if self.release is not None:
            return None
        if self.answer is not None:
            reasons = {**self.answer["unavailable"], **self.answer["denied"]}
            return str(reasons.get(self.correction.attribute, "not_released"))
        return self.refusal or "not_released"


def waiting(session: Session, system: str) -> list[tuple[CorrectionNotice, Correction]]:
    """The system's notices not yet acknowledged, oldest first (at most a page)."""
    rows = session.execute(
        select(CorrectionNotice, Correction)
        .join(Correction, Correction.id == CorrectionNotice.correction_id)
        .where(
            CorrectionNotice.system_id == system,
            CorrectionNotice.status != NoticeStatus.ACKNOWLEDGED,
        )
        .order_by(CorrectionNotice.created_at, CorrectionNotice.id)
        .limit(INBOX_PAGE)
    )
    return [(notice, correction) for notice, correction in rows]


def notice_payload(delivery: Delivery, *, issuer: str, now: datetime) -> dict[str, Any]:
    """The claims of a notice's JWS (docs/corrections.md)."""
    row, notice = delivery.correction, delivery.notice
    release = delivery.release
    return {
        "iss": issuer,
        "aud": notice.system_id,
        "iat": int(now.timestamp()),
        "jti": notice.id,
        "correction": row.id,
        "status": row.status.value,
        "corrected_at": utc_instant(row.decided_at) if row.decided_at else None,
        "subject": {"id_type": ID_TYPE, "id": delivery.subject},
        "attribute": row.attribute,
        "source": {"department": row.provider, "resource": row.resource},
        "received_in": list(notice.received_in),
        "old_fingerprint": row.old_fingerprint,
        "new_fingerprint": row.new_fingerprint,
        "release": dict(release) if release is not None else None,
        "release_request_id": delivery.answer["request_id"] if delivery.answer else None,
        "release_evidence": delivery.answer["evidence"] if release and delivery.answer else None,
        "ask_again": release is None,
        "reason": delivery.why_not,
    }


def sign_notice(session: Session, keys: HubKeys, payload: Mapping[str, Any]) -> str:
    return keys.sign(session, payload, typ=NOTICE_TYP)


def record_delivery(session: Session, deliveries: Sequence[Delivery], now: datetime) -> None:
    """Each delivery as an audit entry; the notices are now delivered."""
    if not deliveries:
        return
    hold_log(session)
    for delivery in deliveries:
        notice = session.get(CorrectionNotice, delivery.notice.id, with_for_update=True)
        if notice is None:
            continue
        if notice.status is NoticeStatus.PENDING:
            notice.status, notice.delivered_at = NoticeStatus.DELIVERED, now
        release = delivery.answer["request_id"] if delivery.answer else None
        _log(session, delivery.correction, notice, "delivered", now, release=release)


def acknowledge(session: Session, system: str, notice_id: str, now: datetime) -> CorrectionNotice:
    """The system has the notice: it leaves the inbox (acknowledging twice changes nothing)."""
    hold_log(session)
    notice = session.get(CorrectionNotice, notice_id, with_for_update=True)
    if notice is None or notice.system_id != system:
        raise NoticeNotFound(f"no correction notice {notice_id} for this system")
    if notice.status is not NoticeStatus.ACKNOWLEDGED:
        notice.status, notice.acknowledged_at = NoticeStatus.ACKNOWLEDGED, now
        correction = session.get(Correction, notice.correction_id)
        assert correction is not None  # noqa: S101 - a foreign key
        _log(session, correction, notice, "acknowledged", now)
    return notice


def _log(
    session: Session,
    correction: Correction,
    notice: CorrectionNotice,
    event: str,
    now: datetime,
    *,
    release: str | None = None,
) -> None:
    log_event(
        session,
        correction,
        event,
        now,
        system=notice.system_id,
        department="-",
        notice=notice.id,
        release=release,
    )
