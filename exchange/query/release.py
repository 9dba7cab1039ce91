"""Shape what leaves the hub: per attribute its value (transformed or derived) and where it
came from, or why it is unavailable or withheld. Values exist only here and in the response;
the audit entry gets the outcome of each attribute, never its value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.base import SourceRecord
from exchange.query.resolve import ResourceInfo
from exchange.query.sourcing import Fetched
from policies.errors import ConflictingRecords
from policies.model import CheckRowCondition, Decision, FieldDecision, Release
from policies.transforms import DERIVATION_BASE, HashKey, apply_release, evaluate
from schemas import ReleasedAttribute

__all__ = ["Outcome", "shape_release"]

log = logging.getLogger("tongban.exchange")


@dataclass
class Outcome:
    """The three answers of a query, keyed by attribute as asked."""

    attributes: dict[str, ReleasedAttribute] = field(default_factory=dict)
    denied: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        if self.attributes and not (self.denied or self.unavailable):
            return "released"
        if self.attributes:
            return "partial"
        return "denied" if self.denied else "unavailable"


def shape_release(
    decision: Decision,
    fetched: Mapping[str, Fetched],
    resources: Mapping[str, ResourceInfo],
    many: Mapping[str, bool],
    *,
    hash_key: HashKey,
    now: datetime,
) -> Outcome:
    """Apply the decision to the fetched records (row conditions, transforms, predicates)."""
    outcome = Outcome()
    conditions = {
        o.agreement_id: o for o in decision.obligations if isinstance(o, CheckRowCondition)
    }
    for choice in decision.fields:
        if choice.reason is not None:
            outcome.denied[choice.attribute] = choice.reason.value
            continue
        source = fetched.get(choice.field.resource)
        if source is None or source.failure is not None:
            reason = "unavailable" if source is None else source.failure
            outcome.unavailable[choice.attribute] = reason or "unavailable"
            continue
        records = _within_condition(source.records, conditions.get(choice.agreement_id or ""))
        _release_one(
            outcome,
            choice,
            records,
            many.get(choice.field.resource, False),
            resources[choice.field.resource],
            source,
            hash_key,
            now,
        )
    return outcome


def _within_condition(
    records: tuple[SourceRecord, ...], check: CheckRowCondition | None
) -> tuple[SourceRecord, ...]:
    """The records a grant's row condition lets through. Records outside it are as if they
    did not exist: the answer (``no_record``, ``[]``, a predicate's ``false``) is the same
    whether the subject has records elsewhere or none at all, so it does not tell."""
    if check is None:
        return records
    return tuple(
        r
        for r in records
        if isinstance(r.values.get(check.condition.field), str)
        and str(r.values[check.condition.field]).startswith(check.condition.prefix)
    )


def _release_one(
    outcome: Outcome,
    choice: FieldDecision,
    records: tuple[SourceRecord, ...],
    many: bool,
    info: ResourceInfo,
    source: Fetched,
    hash_key: HashKey,
    now: datetime,
) -> None:
    if not records and not many:
        outcome.unavailable[choice.attribute] = "no_record"
        return
    if choice.derivation is not None:
        base = DERIVATION_BASE[choice.derivation.predicate]
        try:
            value: Any = evaluate(
                choice.derivation, [r.values.get(base) for r in records], today=now.date()
            )
        except (ConflictingRecords, ValueError):
            outcome.unavailable[choice.attribute] = "source_conflict"
            return
    else:
        release = choice.release or Release.CLEAR
        try:
            values = [
                _transform(release, r.values.get(choice.field.name), hash_key) for r in records
            ]
        except (TypeError, ValueError):
            # The granted release does not fit this field's values (a name mask on a number):
            # nothing of it leaves; the provider's agreement needs another override.
            log.warning("release %s does not apply to %s", release.value, choice.attribute)
            outcome.unavailable[choice.attribute] = "release_not_applicable"
            return
        value = values if many else values[0]
    outcome.attributes[choice.attribute] = {
        "value": value,
        "release": (choice.release or Release.CLEAR).value,
        "source": {
            "department": info.provider,
            "resource": info.code,
            "version": info.version,
            "as_of": _as_of(records, source),
        },
    }


def _transform(release: Release, value: Any, hash_key: HashKey) -> Any:
    return None if value is None else apply_release(release, value, hash_key=hash_key)


def _as_of(records: tuple[SourceRecord, ...], source: Fetched) -> str | None:
    """The source's own as-of time of the newest record, else when the hub read it live."""
    stated = [r.as_of for r in records if r.as_of]
    if stated:
        return _utc_text(max(stated))
    return _utc_text(source.fetched_at.isoformat()) if source.fetched_at else None


def _utc_text(stamp: str) -> str:
    """ISO 8601 with ``Z`` for UTC; a source's zone-less local time stays as the source says."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        return moment.isoformat()
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
