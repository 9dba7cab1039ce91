"""The disputed mark (异议标注): what every release of a disputed attribute carries.

While a correction request on an attribute of a person is open, every release of that attribute
for that person says so, in the answer and in the signed evidence, with a small additive member
of the released attribute::

    "disputed": {"correction": "corr-…", "since": "2026-12-06T09:30:00.000000Z"}

The check costs the query no database statement: the open requests are a cached domain
(``exchange.changes``, ``Domain.CORRECTIONS``), read once per process after each change of the
``corrections`` table (the stamp the unit of work has already read says when), and the check is
a dictionary lookup.

The mark follows the field, whatever shape it leaves in: a plain release, a predicate over it
(``household.age_at_least(18)`` over ``household.birth_date``) and a verify's comparison of a
claim with it (``POST /exchange/verify`` answers and signs ``disputed`` next to ``results``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.changes import Cached, Domain
from exchange.corrections.models import Correction, CorrectionStatus
from policies.model import Decision
from schemas import DisputedMark, ReleasedAttribute

__all__ = ["disputed_for", "disputed_verified", "field_of", "mark_disputed"]

_ALL: Final = "open"
_NOTHING: Mapping[str, DisputedMark] = MappingProxyType({})

OpenDisputes = Mapping[str, Mapping[str, DisputedMark]]  # pseudonym -> attribute -> mark


def _read_open(session: Session, _key: str) -> OpenDisputes:
    rows = session.execute(
        select(Correction.id, Correction.subject, Correction.attribute, Correction.filed_at)
        .where(Correction.status == CorrectionStatus.OPEN)
        .order_by(Correction.filed_at, Correction.id)
    )
    found: dict[str, dict[str, DisputedMark]] = {}
    for correction_id, subject, attribute, filed_at in rows:
        marks = found.setdefault(subject, {})
        if attribute not in marks:  # the oldest open request speaks for the attribute
            marks[attribute] = {"correction": correction_id, "since": _instant(filed_at)}
    return MappingProxyType({s: MappingProxyType(m) for s, m in found.items()})


_OPEN: Cached[str, OpenDisputes] = Cached(Domain.CORRECTIONS, _read_open, size=1)


def disputed_for(session: Session, subject: str) -> Mapping[str, DisputedMark]:
    """The open disputes on *subject*'s attributes (a pseudonym): attribute -> mark. No
    statement once this process holds the current set and the unit has read the stamps."""
    return _OPEN.get(session, _ALL).get(subject, _NOTHING)


def field_of(decision: Decision) -> dict[str, str]:
    """Each attribute as asked -> the field it is read from (``namespace.field``): a predicate
    is disputed when its field is."""
    return {d.attribute: d.field.attribute for d in decision.fields}


def mark_disputed(
    attributes: Mapping[str, ReleasedAttribute],
    disputed: Mapping[str, DisputedMark],
    fields: Mapping[str, str] | None = None,
) -> None:
    """Add the disputed mark to each released attribute whose field is under an open correction
    request (*fields*: each attribute as asked -> its field, :func:`field_of`; without it, the
    names are the fields)."""
    if not disputed:
        return
    for attribute, released in attributes.items():
        mark = disputed.get((fields or {}).get(attribute, attribute))
        if mark is not None:
            released["disputed"] = {"correction": mark["correction"], "since": mark["since"]}


def disputed_verified(
    results: Mapping[str, str], disputed: Mapping[str, DisputedMark], fields: Mapping[str, str]
) -> dict[str, DisputedMark]:
    """The disputed mark of each claim a verify compared (``match`` / ``no_match``) with a field
    under an open correction request: attribute as asked -> mark."""
    found: dict[str, DisputedMark] = {}
    for attribute, result in results.items():
        mark = disputed.get(fields.get(attribute, attribute))
        if mark is not None and result in ("match", "no_match"):
            found[attribute] = {"correction": mark["correction"], "since": mark["since"]}
    return found


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
