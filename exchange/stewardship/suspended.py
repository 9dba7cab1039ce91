"""Which agreements are suspended or terminated (暂停、终止共享): while an agreement is, the
exchange relies on nothing under it (``exchange.agreements.lifecycle.AgreementCheck``)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.stewardship.models import AgreementSuspension, SuspensionStatus

__all__ = ["HALTING", "halted"]

HALTING = (SuspensionStatus.SUSPENDED, SuspensionStatus.TERMINATED)


def halted(session: Session, ids: Iterable[str]) -> dict[str, SuspensionStatus]:
    """Each of *ids* that is suspended or terminated, with which (one statement)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(AgreementSuspension.agreement_id, AgreementSuspension.status).where(
            AgreementSuspension.agreement_id.in_(wanted),
            AgreementSuspension.status.in_(HALTING),
        )
    )
    return {agreement_id: status for agreement_id, status in rows}
