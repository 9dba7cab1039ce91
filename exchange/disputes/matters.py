"""The matter a dispute is about, and the departments it concerns.

A dispute names its matter by kind and id; the matter must exist and both departments must be
parties to it:

- ``application``: an agreement row applied for through the hub (``origin`` application, any
  status); its parties are the consumer department and the provider department;
- ``agreement``: an agreement that was approved or loaded from a signed document (not one still
  pending or refused); the same two parties;
- ``correction``: a correction request a department filed (a citizen's objection concerns no
  second department); the filing department and the source department (数源部门);
- ``catalogue_entry``: a resource of the catalogue; its provider, and every department that
  applied for or holds an agreement on it or filed a correction request about it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import Resource
from exchange.agreements.models import Agreement, AgreementStatus, Origin
from exchange.corrections.models import Correction
from exchange.disputes.errors import DisputeMatterNotFound, DisputeMatterUnrelated
from exchange.disputes.models import MatterKind

__all__ = ["check_matter", "parties_of"]

_NOT_AGREED = (AgreementStatus.PENDING, AgreementStatus.REFUSED)


def parties_of(session: Session, kind: MatterKind, matter_id: str) -> frozenset[str]:
    """The departments the matter concerns; :class:`DisputeMatterNotFound` if there is none."""
    if kind in (MatterKind.APPLICATION, MatterKind.AGREEMENT):
        row = session.get(Agreement, matter_id)
        if row is not None and _is(kind, row):
            return frozenset({row.consumer_department, row.provider_department})
    elif kind is MatterKind.CORRECTION:
        correction = session.get(Correction, matter_id)
        if correction is not None:
            filer = {correction.filer_department} if correction.filer_department else set()
            return frozenset({correction.provider, *filer})
    elif kind is MatterKind.CATALOGUE_ENTRY:
        resource = session.get(Resource, matter_id)
        if resource is not None:
            return frozenset({resource.provider_code, *_users_of(session, resource.code)})
    raise DisputeMatterNotFound(f"there is no {kind.value} {matter_id}")


def check_matter(
    session: Session, kind: MatterKind, matter_id: str, claimant: str, respondent: str
) -> None:
    """The matter exists and concerns both *claimant* and *respondent*."""
    parties = parties_of(session, kind, matter_id)
    for department in (claimant, respondent):
        if department not in parties:
            raise DisputeMatterUnrelated(
                f"{kind.value} {matter_id} does not concern department {department}"
            )


def _is(kind: MatterKind, row: Agreement) -> bool:
    if kind is MatterKind.APPLICATION:
        return row.origin is Origin.APPLICATION
    return row.origin is Origin.DOCUMENT or row.status not in _NOT_AGREED


def _users_of(session: Session, resource: str) -> set[str]:
    agreements = session.scalars(
        select(Agreement.consumer_department).where(Agreement.resource_code == resource)
    )
    corrections = session.scalars(
        select(Correction.filer_department).where(
            Correction.resource == resource, Correction.filer_department.is_not(None)
        )
    )
    return {code for code in [*agreements, *corrections] if code}
