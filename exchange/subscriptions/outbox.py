"""From the sources' change streams to the outbox: the ``subscriptions.changes`` job.

For every active subscription and every resource it names, in this order:

1. **decide again** with the policy engine (:func:`~exchange.subscriptions.service.
   subscription_decision`): an agreement revoked or expired since the subscription was made
   releases nothing more; only the fields the decision releases (and a row condition needs) are
   read from the source;
2. **read the stream** ``adapter.changes(since=<stored watermark>)`` (oldest first). A
   subscription's first run reads the stream to its end without making events, so it starts
   with the changes made after it;
3. **match** each change to the population: the change's subject pseudonym among the
   subscription's subjects, or its row-condition field under the subscription's division; a
   change whose key is not a valid resident ID is skipped;
4. **shape** what the event carries with the query's own release step
   (:func:`exchange.query.release.shape_release`: row conditions, transforms, derived
   predicates); a change that releases nothing makes no event;
5. **append** one audit entry (``kind`` ``event``) per event and the sealed event with the next
   sequence number, in one transaction with the new watermark (the log's head lock first, then
   the subscription's row). Changes are committed in batches that end between two watermarks,
   so a run stopped anywhere resumes without losing a change or numbering one twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Change, SourceRecord
from catalogue.models import System
from exchange import clock
from exchange.audit.lifecycle import hold_log
from exchange.audit.log import append_in
from exchange.corrections.disputes import disputed_for, field_of, mark_disputed
from exchange.db import unit_of_work
from exchange.notice.basis import record_basis
from exchange.query.release import Outcome, shape_release
from exchange.query.resolve import ResourceInfo
from exchange.query.sourcing import Fetched
from exchange.security.errors import InvalidSubjectId
from exchange.security.subjects import ID_TYPE, Pseudonyms
from exchange.sources.registry import SourceRegistry
from exchange.subscriptions.models import (
    EventStatus,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
    SubscriptionSubject,
    SubscriptionWatermark,
)
from exchange.subscriptions.sealing import OutboxSeal
from exchange.subscriptions.service import PeerSources, subscription_decision
from policies.model import CheckRowCondition, Decision, FieldDecision
from policies.transforms import HashKey
from schemas import AuditedAttribute, AuditEntry, RelayedFor, RelayedRead, TongbanError

__all__ = ["EVENT_TYPE", "ChangeReader", "ReadResult", "Released", "record_event"]

EVENT_TYPE = "tongban.attributes.changed"
BATCH = 500
"""Changes matched and committed together (a batch closes only between two watermarks)."""


@dataclass
class ReadResult:
    changes: int = 0
    events: int = 0
    failures: int = 0


@dataclass(frozen=True)
class _Plan:
    subscription: str
    system: str
    department: str
    purpose: str
    division: str | None
    decision: Decision
    info: ResourceInfo
    fields: tuple[str, ...]
    condition_field: str | None
    relay: dict[str, Any] | None = None  # held for a peer hub's system: the entry's ``relay``


class ChangeReader:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        sources: SourceRegistry,
        pseudonyms: Pseudonyms,
        seal: OutboxSeal,
        release_hash_key: HashKey,
        *,
        peers: PeerSources | None = None,
    ) -> None:
        self._sessions = sessions
        self._sources = sources
        self._pseudonyms = pseudonyms
        self._seal = seal
        self._hash_key = release_hash_key
        self._peers = peers

    def run(self) -> ReadResult:
        """Read every active subscription's resources once (module docstring). A source that
        fails is skipped for this run and the first failure raised at the end, after the
        others were read."""
        result = ReadResult()
        failed: TongbanError | None = None
        for plan in self._plans():
            try:
                self._read(plan, result)
            except TongbanError as exc:
                result.failures += 1
                failed = failed or exc
        if failed is not None:
            raise failed
        return result

    def _plans(self) -> Iterator[_Plan]:
        now = clock.now()
        with unit_of_work(self._sessions) as session:
            active = list(
                session.scalars(
                    select(Subscription)
                    .where(Subscription.status == SubscriptionStatus.ACTIVE)
                    .order_by(Subscription.created_at, Subscription.id)
                )
            )
            plans = [p for s in active for p in self._plan(session, s, now)]
        yield from plans

    def _plan(self, session: Session, sub: Subscription, now: datetime) -> list[_Plan]:
        system = session.get(System, sub.system)
        if system is None:
            return []
        resolved, decision, _ = subscription_decision(
            session,
            system=sub.system,
            department=sub.department,
            purposes=list(system.purposes),
            purpose=sub.purpose,
            agreement=sub.agreement,
            attributes=sub.attributes,
            now=now,
        )
        wanted = decision.fields_to_fetch()
        remote = self._peers.origins(session, resolved.resources) if self._peers else {}
        plans = []
        for code, info in sorted(resolved.resources.items()):
            if code not in wanted or code in remote:
                continue  # nothing of it may be released now; or another hub's events bring it
            mine = Decision(
                fields=tuple(d for d in decision.fields if d.field.resource == code),
                obligations=tuple(
                    o
                    for o in decision.obligations
                    if isinstance(o, CheckRowCondition) and o.resource == code
                ),
            )
            condition = next(
                (o.condition.field for o in mine.obligations if isinstance(o, CheckRowCondition)),
                None,
            )
            plans.append(
                _Plan(
                    sub.id,
                    sub.system,
                    sub.department,
                    sub.purpose,
                    sub.division,
                    mine,
                    info,
                    tuple(sorted(wanted[code])),
                    condition,
                    relay_of(sub),
                )
            )
        return plans

    def _read(self, plan: _Plan, result: ReadResult) -> None:
        code = plan.info.code
        adapter = self._sources.adapter(code, plan.info.version, plan.info.schemas)
        with unit_of_work(self._sessions) as session:
            mark = session.get(SubscriptionWatermark, (plan.subscription, code))
            known, since = mark is not None, (mark.watermark if mark is not None else None)
        stream = adapter.changes(since, plan.fields)
        if not known:
            last = None
            for change in stream:
                last = change.watermark
            with unit_of_work(self._sessions, write=True) as session:
                session.merge(
                    SubscriptionWatermark(
                        subscription_id=plan.subscription, resource=code, watermark=last
                    )
                )
            return
        batch: list[Change] = []
        for change in stream:
            if len(batch) >= BATCH and change.watermark != batch[-1].watermark:
                self._commit(plan, batch, result)
                batch = []
            batch.append(change)
            result.changes += 1
        if batch:
            self._commit(plan, batch, result)

    def _commit(self, plan: _Plan, batch: Sequence[Change], result: ReadResult) -> None:
        named = [(c, self._pseudonym(c.subject)) for c in batch]
        now = clock.now()
        with unit_of_work(self._sessions, write=True) as session:
            matched = self._matched(session, plan, named)
            if matched:
                hold_log(session)
                sub = session.get(Subscription, plan.subscription, with_for_update=True)
                if sub is None or sub.status != SubscriptionStatus.ACTIVE:
                    return
                for change, pseudonym in matched:
                    if self._event(session, plan, sub, change, pseudonym, now):
                        result.events += 1
            mark = session.get(SubscriptionWatermark, (plan.subscription, plan.info.code))
            if mark is not None:
                mark.watermark = batch[-1].watermark

    def _pseudonym(self, key: str) -> str | None:
        try:
            return self._pseudonyms.of(key)
        except InvalidSubjectId:
            return None

    def _matched(
        self, session: Session, plan: _Plan, named: list[tuple[Change, str | None]]
    ) -> list[tuple[Change, str]]:
        valid = [(c, p) for c, p in named if p is not None]
        if plan.division is not None:
            field = plan.condition_field
            return [
                (c, p)
                for c, p in valid
                if field is not None and str(c.values.get(field) or "").startswith(plan.division)
            ]
        wanted = {p for _, p in valid}
        held = set(
            session.scalars(
                select(SubscriptionSubject.subject)
                .where(SubscriptionSubject.subscription_id == plan.subscription)
                .where(SubscriptionSubject.subject.in_(wanted))
            )
        )
        return [(c, p) for c, p in valid if p in held]

    def _event(
        self,
        session: Session,
        plan: _Plan,
        sub: Subscription,
        change: Change,
        pseudonym: str,
        now: datetime,
    ) -> bool:
        code = plan.info.code
        record = SourceRecord(values=change.values, as_of=None)
        outcome = shape_release(
            plan.decision,
            {code: Fetched(code, records=(record,), fetched_at=now)},
            {code: plan.info},
            {code: False},
            hash_key=self._hash_key.for_consumer(plan.system),
            now=now,
        )
        # 异议标注: a released attribute under an open correction request carries the mark
        mark_disputed(outcome.attributes, disputed_for(session, pseudonym), field_of(plan.decision))
        released = Released(
            plan.system, plan.department, plan.purpose, plan.decision, code, change.subject
        )
        return record_event(
            session, self._seal, sub, released, pseudonym, outcome, now, relay=plan.relay
        )


@dataclass(frozen=True)
class Released:
    """Who an event is released to, under which decision, about which resource and subject."""

    system: str
    department: str
    purpose: str
    decision: Decision
    resource: str
    subject: str  # the ID number the consumer gave


def record_event(
    session: Session,
    seal: OutboxSeal,
    sub: Subscription,
    released: Released,
    pseudonym: str,
    outcome: Outcome,
    now: datetime,
    *,
    relay: dict[str, Any] | None = None,
    relayed: list[dict[str, Any]] | None = None,
    origins: list[dict[str, str]] | None = None,
) -> bool:
    """Append one event to *sub*'s outbox with its audit entry (the caller holds the log's head
    lock and *sub*'s row): False, and nothing appended, when *outcome* releases nothing. An
    event held for a peer hub's system names it (``relay``); one brought from another hub names
    the origin's event (``relayed``) and carries its signed event (``origins``)."""
    if not outcome.attributes:
        return False
    token = uuid.uuid4()
    event_id = f"evt-{token}"
    entry = _entry(released, str(token), pseudonym, outcome, now)
    if relay is not None:
        entry["relay"] = cast(RelayedFor, relay)
    if relayed is not None:
        entry["relayed"] = [cast(RelayedRead, r) for r in relayed]
    receipt = append_in(session, entry)
    data: dict[str, Any] = {
        "id": event_id,
        "subscription": sub.id,
        "seq": sub.next_seq,
        "subject": {"id_type": ID_TYPE, "id": released.subject},
        "resource": released.resource,
        "attributes": outcome.attributes,
        "denied": outcome.denied,
        "unavailable": outcome.unavailable,
        "audit": {"index": receipt.index},
    }
    if origins:
        data["origins"] = origins
    payload: dict[str, Any] = {"type": EVENT_TYPE, "timestamp": _instant(now), "data": data}
    session.add(
        SubscriptionEvent(
            id=event_id,
            subscription_id=sub.id,
            seq=sub.next_seq,
            resource=released.resource,
            sealed=seal.seal_event(sub.id, event_id, payload),
            status=EventStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            audit_index=receipt.index,
        )
    )
    sub.next_seq += 1
    return True


def relay_of(sub: Subscription) -> dict[str, Any] | None:
    """The audit entry's ``relay`` of an event held for a peer hub's system: that hub, its
    system and department, and its subscription's UUID as the request id."""
    held = sub.on_behalf_of
    if not held:
        return None
    return {
        "hub": str(held.get("hub", "")),
        "system": str(held.get("system", "")),
        "department": str(held.get("department", "")),
        "officer": None,
        "request_id": str(held.get("subscription", "")).removeprefix("sub-"),
    }


def _entry(
    released: Released, token: str, pseudonym: str, outcome: Outcome, now: datetime
) -> AuditEntry:
    """The audit entry of one event: as a query's, ``kind`` ``event``, never a value."""
    return {
        "v": 1,
        "kind": "event",
        "request_id": token,
        "at": _instant(now),
        "system": released.system,
        "department": released.department,
        "officer": None,
        "subject": pseudonym,
        "purpose": released.purpose,
        "service_item": None,
        "consent": None,
        "attributes": {d.attribute: _audited(d, outcome) for d in released.decision.fields},
        "outcome": outcome.summary,
    }


def _audited(choice: FieldDecision, outcome: Outcome) -> AuditedAttribute:
    reason = outcome.denied.get(choice.attribute) or outcome.unavailable.get(choice.attribute)
    state = "released" if choice.attribute in outcome.attributes else None
    audited: AuditedAttribute = {
        "outcome": state
        or ("unavailable" if choice.attribute in outcome.unavailable else "denied"),
        "resource": choice.field.resource,
        "version": choice.field.version,
        "rules": list(choice.rules),
    }
    extra = {
        "release": choice.release.value if choice.release is not None else None,
        "reason": reason,
        "agreement": choice.agreement_id,
        "legal_basis": choice.legal_basis,
    }
    audited.update({k: v for k, v in extra.items() if v})  # type: ignore[typeddict-item]
    return record_basis(audited, choice)  # 法定职责 / 同意 / 其他 (docs/notice.md)


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
