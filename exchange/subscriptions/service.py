"""Making, reading and steering subscriptions (订阅): the checks a subscription passes, in order.

1. **subjects or division, not both** (``invalid_subscription_population``): a list of 1 to
   :data:`MAX_SUBJECTS` resident ID numbers, each checked (``invalid_subject_id``) and kept only as
   its keyed pseudonym; or a division prefix (GB/T 2260 digits);
2. **the delivery**: ``webhook`` with a URL (:class:`~exchange.subscriptions.webhooks.
   WebhookPolicy`, ``webhook_url_refused``), ``broker`` only on a hub with a broker and no URL,
   ``pull`` without a URL (``invalid_subscription_delivery``); unnamed, a URL means ``webhook``
   and none ``pull``;
3. **the attributes resolve** against the catalogue, as a query's would (unknown attribute 422);
4. **the agreement**, when one is named, is one of this system's agreements in force (else
   ``subscription_not_permitted``); without one only unconditional fields can be subscribed to;
5. **the policy engine** (:func:`policies.engine.decide`) would release every attribute to this
   system for this purpose under that agreement and no consent (a subscription cannot rely on a
   one-off consent): any denial is ``subscription_not_permitted``, with each refused attribute
   and its reason;
6. **a division** needs an agreement whose row condition it lies inside, and every attribute on
   that agreement's resource (``subscription_too_wide``);
7. **across hubs** (回流, docs/federation.md): ``on_behalf_of`` (a consumer peer hub's own system
   and subscription) is accepted only from the system that peer was registered with
   (``not_a_peer_hub``); and where attributes belong to resources another hub holds, this hub
   subscribes there on behalf of the caller (:class:`PeerSources`), for named subjects only
   (a division is not relayed: ``invalid_subscription_population``), before anything is stored:
   a refusal there refuses the subscription here.

The caller commits (one unit of work per request).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from exchange.agreements.grants import checked_grants
from exchange.query.resolve import ResolvedQuery, resolve_query
from exchange.security.clientauth import SystemPrincipal
from exchange.security.subjects import Pseudonyms
from exchange.subscriptions.errors import (
    NotAPeerHub,
    SubscriptionDeliveryInvalid,
    SubscriptionEventNotFound,
    SubscriptionEventPending,
    SubscriptionNotFound,
    SubscriptionNotPermitted,
    SubscriptionPopulationInvalid,
    SubscriptionTooWide,
)
from exchange.subscriptions.models import (
    DeliveryChannel,
    EventStatus,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
    SubscriptionSubject,
    SubscriptionWatermark,
)
from exchange.subscriptions.sealing import OutboxSeal
from exchange.subscriptions.webhooks import WebhookPolicy, new_secret
from policies.engine import decide
from policies.model import Decision, Grant, QueryContext
from schemas import ProblemDetail

__all__ = [
    "MAX_SUBJECTS",
    "Made",
    "PeerSources",
    "SubscriptionAsk",
    "Subscriptions",
    "subscription_decision",
]

MAX_SUBJECTS = 100_000
"""The most subjects one subscription may name."""
_DIVISION = re.compile(r"^[0-9]{2,12}$")


@dataclass(frozen=True)
class SubscriptionAsk:
    purpose: str
    attributes: Sequence[str]
    agreement: str | None = None
    subjects: Sequence[str] | None = None
    division: str | None = None
    webhook_url: str | None = None
    delivery: DeliveryChannel | None = None
    on_behalf_of: Mapping[str, Any] | None = None  # {hub, system, department, subscription}


class PeerSources(Protocol):
    """Other hubs holding resources a subscription names (``exchange.federation.
    subscriptions.PeerSubscriptions``): which they are, subscribing there, and cancelling."""

    def origins(self, session: Session, codes: Iterable[str]) -> dict[str, str]:
        """Each of *codes* another hub holds -> that hub's peer id."""
        ...

    def admit(self, session: Session, system: str, on_behalf_of: Mapping[str, Any]) -> None:
        """Refuse a subscription held for another hub's system by a system that is not that
        registered peer hub (``not_a_peer_hub``)."""
        ...

    def subscribe(
        self,
        session: Session,
        made: Subscription,
        subjects: Sequence[str],
        wanted: Mapping[str, set[str]],
        resolved: ResolvedQuery,
        remote: Mapping[str, str],
    ) -> None:
        """Subscribe at each origin hub for *made*'s remote resources (*wanted* fields), or
        raise that hub's refusal."""
        ...

    def cancel(self, session: Session, sub: Subscription) -> None:
        """Cancel what this hub holds at other hubs for *sub*."""
        ...


@dataclass(frozen=True)
class Made:
    subscription: Subscription
    secret: str | None  # shown once
    subjects: int


def subscription_decision(
    session: Session,
    *,
    system: str,
    department: str,
    purposes: Sequence[str],
    purpose: str,
    agreement: str | None,
    attributes: Sequence[str],
    now: datetime,
) -> tuple[ResolvedQuery, Decision, list[Grant]]:
    """What the policy engine decides for a subscription now: its attributes for this system and
    purpose, over the named agreement's grants only (none without one), and no consent."""
    resolved = resolve_query(
        session, attributes=list(attributes), service_item=None, department=department
    )
    grants, _ = checked_grants(session, system=system, now=now, resources=resolved.resources)
    named = [g for g in grants if agreement is not None and g.agreement_id == agreement]
    context = QueryContext(
        system=system,
        department=department,
        system_purposes=frozenset(purposes),
        purpose=purpose,
        now=now,
    )
    return resolved, decide(context, resolved.requests, named, []), named


class Subscriptions:
    def __init__(
        self,
        pseudonyms: Pseudonyms,
        seal: OutboxSeal,
        webhooks: WebhookPolicy,
        *,
        broker: bool = False,
        peers: PeerSources | None = None,
        retire: Callable[[str], None] | None = None,
    ) -> None:
        self._pseudonyms = pseudonyms
        self._seal = seal
        self._webhooks = webhooks
        self._broker = broker
        self._peers = peers
        self._retire = retire  # deletes a cancelled broker subscription's queue (brokers.py)

    def create(
        self, session: Session, caller: SystemPrincipal, ask: SubscriptionAsk, now: datetime
    ) -> Made:
        """A new subscription, checked in the module docstring's order."""
        subjects = self._population(ask)
        delivery = self._delivery(ask)
        if ask.on_behalf_of is not None:
            if self._peers is None:
                raise NotAPeerHub("this hub accepts no subscriptions held for another hub")
            self._peers.admit(session, caller.system_id, ask.on_behalf_of)
        if ask.webhook_url is not None:
            self._webhooks.check_url(ask.webhook_url)
        resolved, decision, grants = subscription_decision(
            session,
            system=caller.system_id,
            department=caller.department,
            purposes=caller.purposes,
            purpose=ask.purpose,
            agreement=ask.agreement,
            attributes=ask.attributes,
            now=now,
        )
        if ask.agreement is not None and not grants:
            raise SubscriptionNotPermitted(
                f"agreement {ask.agreement} is not in force for this system over these attributes"
            )
        refused = [
            ProblemDetail(pointer=f"/attributes/{i}", detail=f"{d.attribute}: {d.reason.value}")
            for i, d in enumerate(decision.fields)
            if d.reason is not None
        ]
        if refused:
            raise SubscriptionNotPermitted(
                f"{len(refused)} attribute(s) may not be released to this system for purpose "
                f"{ask.purpose!r}" + (f" under {ask.agreement}" if ask.agreement else ""),
                errors=refused,
            )
        if ask.division is not None:
            _check_division(ask.division, grants, set(resolved.resources))
        remote = self._peers.origins(session, resolved.resources) if self._peers else {}
        if remote and ask.division is not None:
            raise SubscriptionPopulationInvalid(
                "a division population is not subscribed to at another hub: name the subjects"
            )
        made = Subscription(
            id=f"sub-{uuid.uuid4()}",
            system=caller.system_id,
            department=caller.department,
            purpose=ask.purpose,
            agreement=ask.agreement,
            attributes=[d.attribute for d in decision.fields],
            resources=sorted(resolved.resources),
            division=ask.division,
            delivery=delivery,
            url=ask.webhook_url,
            status=SubscriptionStatus.ACTIVE,
            next_seq=1,
            created_at=now,
            on_behalf_of=dict(ask.on_behalf_of) if ask.on_behalf_of is not None else None,
        )
        secret = new_secret() if delivery != DeliveryChannel.PULL else None
        if secret is not None:
            made.secret_sealed = self._seal.seal_secret(made.id, secret)
        session.add(made)
        session.flush()
        if subjects:
            session.execute(
                insert(SubscriptionSubject),
                [{"subscription_id": made.id, "subject": s} for s in sorted(subjects)],
            )
        if remote and self._peers is not None:
            wanted = decision.fields_to_fetch()
            far = {code: set(wanted.get(code, set())) for code in remote}
            self._peers.subscribe(session, made, ask.subjects or [], far, resolved, remote)
        return Made(made, secret, len(subjects))

    def _delivery(self, ask: SubscriptionAsk) -> DeliveryChannel:
        url = ask.webhook_url
        chosen = ask.delivery or (DeliveryChannel.WEBHOOK if url else DeliveryChannel.PULL)
        if chosen == DeliveryChannel.WEBHOOK and url is None:
            raise SubscriptionDeliveryInvalid("webhook delivery needs a webhook_url")
        if chosen != DeliveryChannel.WEBHOOK and url is not None:
            raise SubscriptionDeliveryInvalid(f"{chosen.value} delivery takes no webhook_url")
        if chosen == DeliveryChannel.BROKER and not self._broker:
            raise SubscriptionDeliveryInvalid(
                "this hub publishes to no broker (TONGBAN_SUBSCRIPTION_BROKER_URL is not set)"
            )
        return chosen

    def _population(self, ask: SubscriptionAsk) -> set[str]:
        if (ask.subjects is None) == (ask.division is None):
            raise SubscriptionPopulationInvalid(
                "name the population either as subjects or as a division, not both or neither"
            )
        if ask.division is not None:
            if not _DIVISION.fullmatch(ask.division):
                raise SubscriptionPopulationInvalid(
                    "a division is 2 to 12 digits of a GB/T 2260 code, as a prefix"
                )
            return set()
        listed = ask.subjects or []
        if not 1 <= len(listed) <= MAX_SUBJECTS:
            raise SubscriptionPopulationInvalid(
                f"a subscription names between 1 and {MAX_SUBJECTS} subjects"
            )
        return {self._pseudonyms.of(n, pointer=f"/subjects/{i}") for i, n in enumerate(listed)}

    # -- reading and steering ---------------------------------------------------------------

    def get(self, session: Session, system: str, subscription_id: str) -> Subscription:
        found = session.get(Subscription, subscription_id)
        if found is None or found.system != system:
            raise SubscriptionNotFound(f"no subscription {subscription_id} of this system")
        return found

    def watching(self, session: Session, sub: Subscription) -> bool:
        """Whether the change job has read each of the subscription's resources' streams to its
        end once: from then on a change becomes an event (before, it is part of the start)."""
        read = session.scalar(
            select(func.count())
            .select_from(SubscriptionWatermark)
            .where(SubscriptionWatermark.subscription_id == sub.id)
        )
        return int(read or 0) >= len(sub.resources)

    def cancel(self, session: Session, system: str, subscription_id: str) -> Subscription:
        found = self.get(session, system, subscription_id)
        if found.status == SubscriptionStatus.CANCELLED:
            return found
        if found.delivery == DeliveryChannel.BROKER and self._retire is not None:
            self._retire(found.id)  # its queue goes first: the broker down refuses the cancel
        found.status = SubscriptionStatus.CANCELLED
        if self._peers is not None:
            self._peers.cancel(session, found)
        return found

    def events(
        self,
        session: Session,
        system: str,
        subscription_id: str,
        *,
        after: int,
        limit: int,
        status: EventStatus | None = None,
    ) -> list[dict[str, Any]]:
        """Events numbered after *after*, in order, with their delivery state and payload."""
        self.get(session, system, subscription_id)
        query = (
            select(SubscriptionEvent)
            .where(SubscriptionEvent.subscription_id == subscription_id)
            .where(SubscriptionEvent.seq > after)
            .order_by(SubscriptionEvent.seq)
            .limit(limit)
        )
        if status is not None:
            query = query.where(SubscriptionEvent.status == status)
        return [self._view(row) for row in session.scalars(query)]

    def acknowledge(self, session: Session, system: str, subscription_id: str, seq: int) -> int:
        """Mark every event up to *seq* acknowledged; how many were not already."""
        self.get(session, system, subscription_id)
        result = session.execute(
            update(SubscriptionEvent)
            .where(SubscriptionEvent.subscription_id == subscription_id)
            .where(SubscriptionEvent.seq <= seq)
            .where(SubscriptionEvent.status != EventStatus.ACKED)
            .values(status=EventStatus.ACKED)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def replay(
        self,
        session: Session,
        system: str,
        subscription_id: str,
        event_ids: Sequence[str] | None,
        now: datetime,
    ) -> list[str]:
        """Put events back on their way, with a fresh retry budget: the named ones (dead,
        delivered or acknowledged; a pending one is ``subscription_event_pending``), or every
        dead one. Their ids and payloads do not change (consumers deduplicate on the id)."""
        self.get(session, system, subscription_id)
        query = select(SubscriptionEvent).where(
            SubscriptionEvent.subscription_id == subscription_id
        )
        if event_ids is None:
            rows = list(session.scalars(query.where(SubscriptionEvent.status == EventStatus.DEAD)))
        else:
            found = {
                r.id: r
                for r in session.scalars(query.where(SubscriptionEvent.id.in_(set(event_ids))))
            }
            missing = [e for e in event_ids if e not in found]
            if missing:
                raise SubscriptionEventNotFound(f"no event {missing[0]} in this subscription")
            rows = [found[e] for e in dict.fromkeys(event_ids)]
            pending = [r.id for r in rows if r.status == EventStatus.PENDING]
            if pending:
                raise SubscriptionEventPending(f"event {pending[0]} is still pending delivery")
        for row in rows:
            row.status = EventStatus.PENDING
            row.attempts = 0
            row.next_attempt_at = now
            row.last_error = None
        return sorted(r.id for r in rows)

    def _view(self, row: SubscriptionEvent) -> dict[str, Any]:
        return {
            "id": row.id,
            "seq": row.seq,
            "status": row.status.value,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "created_at": row.created_at,
            "delivered_at": row.delivered_at,
            "payload": self._seal.open_event(row.subscription_id, row.id, row.sealed),
        }


def _check_division(division: str, grants: Sequence[Grant], resources: set[str]) -> None:
    conditioned = [(g, g.row_condition) for g in grants if g.row_condition is not None]
    if not conditioned:
        raise SubscriptionTooWide(
            "a division population needs an agreement with a row condition (by division)"
        )
    grant, condition = conditioned[0]
    if not division.startswith(condition.prefix):
        raise SubscriptionTooWide(
            f"division {division} is wider than agreement {grant.agreement_id} allows "
            f"(records of {condition.prefix}… only)"
        )
    if resources != {grant.resource}:
        raise SubscriptionTooWide(
            f"a division subscription may name only attributes of {grant.resource}, the "
            f"resource of agreement {grant.agreement_id}"
        )
