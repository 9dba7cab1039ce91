"""Delivery from the outbox: the ``subscriptions.deliver`` job, over a transport (a webhook, or
the deployment's broker: :mod:`exchange.subscriptions.brokers`).

Per subscription, events go out **in order**: a round starts from a subscription's lowest
pending event (its head), so a later event never overtakes an earlier one. A round:

1. **claim** the due heads of active subscriptions of the transport's channel in one short
   transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so several workers share the work without
   waiting on each other; SQLite: writers are serialised) and lease each one (its next attempt
   moves :data:`LEASE_S` ahead), so nobody else attempts that subscription while this worker
   does. A transport that sends several events of one subscription in a round (the broker's)
   takes the next pending events after the head with it, in order;
2. **send** them outside any transaction, signed (webhooks:
   :func:`~exchange.subscriptions.webhooks.post_event`, the URL checked again on the addresses it
   resolves to now; a broker: each subscription's events one after another, each after the
   previous one was acknowledged, stopping at the first failure);
3. **record** the results in one transaction: ``delivered`` on success; otherwise the next
   attempt waits ``TONGBAN_SUBSCRIPTION_RETRY_FIRST_S`` doubled after each failure, capped at
   ``TONGBAN_SUBSCRIPTION_RETRY_MAX_S``, and after ``TONGBAN_SUBSCRIPTION_MAX_ATTEMPTS`` the
   event is ``dead`` (dead-lettered: listed by the pull API, replayable) and the next event
   becomes the head. Events not attempted (behind a failure) stay pending as they were.

A worker that dies after claiming leaves the lease to run out; the events are attempted again
then. An event may thus be delivered more than once (at least once): its ``webhook-id`` is the
event id, the same on every attempt, for the consumer to deduplicate (NATS JetStream does it
itself on ``Nats-Msg-Id``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from exchange import clock
from exchange.db import unit_of_work
from exchange.subscriptions.models import (
    DeliveryChannel,
    EventStatus,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)
from exchange.subscriptions.sealing import OutboxSeal
from exchange.subscriptions.webhooks import (
    AttemptResult,
    WebhookPolicy,
    post_event,
    signature_headers,
    webhook_client,
)

__all__ = [
    "Courier",
    "DeliveryResult",
    "Outgoing",
    "RetryBudget",
    "Round",
    "Transport",
    "WebhookTransport",
]

LEASE_S = 120
"""How long a claimed event is left to the worker that claimed it."""
ROUND = 32
"""Heads claimed at once."""
PARALLEL = 8
"""Webhook calls of one round made at the same time (each to another subscription)."""


@dataclass(frozen=True)
class RetryBudget:
    max_attempts: int
    first_delay_s: float
    max_delay_s: float

    def delay_after(self, attempts: int) -> float:
        return float(min(self.first_delay_s * 2 ** (attempts - 1), self.max_delay_s))


@dataclass
class DeliveryResult:
    delivered: int = 0
    failed: int = 0
    dead: int = 0


@dataclass(frozen=True)
class Outgoing:
    """One signed event on its way: the body and headers a webhook gets (a broker the same)."""

    event_id: str
    subscription_id: str
    seq: int
    url: str | None
    body: bytes
    headers: dict[str, str]


class Round(Protocol):
    def send(self, batches: Sequence[Sequence[Outgoing]]) -> list[list[AttemptResult]]:
        """Send each batch (one subscription's events, in order); a batch's results stop at its
        first failure, whose result is its last."""
        ...


class Transport(Protocol):
    per_subscription: int
    """Events of one subscription sent in one round (1: only its head)."""

    def opened(self) -> AbstractContextManager[Round]:
        """A connection (client, event loop) for one delivery run's rounds."""
        ...


class WebhookTransport:
    """Webhooks: one event a subscription a round, :data:`PARALLEL` subscriptions at once."""

    per_subscription = 1

    def __init__(self, policy: WebhookPolicy) -> None:
        self.policy = policy

    @contextmanager
    def opened(self) -> Iterator[Round]:
        with (
            ThreadPoolExecutor(PARALLEL, thread_name_prefix="tongban-webhook") as pool,
            webhook_client() as client,
        ):
            yield _WebhookRound(self.policy, pool, client)


@dataclass(frozen=True)
class _WebhookRound:
    policy: WebhookPolicy
    pool: ThreadPoolExecutor
    client: httpx.Client

    def send(self, batches: Sequence[Sequence[Outgoing]]) -> list[list[AttemptResult]]:
        def one(batch: Sequence[Outgoing]) -> list[AttemptResult]:
            results = []
            for event in batch:
                outcome = post_event(
                    self.policy, event.url or "", event.body, event.headers, self.client
                )
                results.append(outcome)
                if not outcome.delivered:
                    break
            return results

        return list(self.pool.map(one, batches))


@dataclass(frozen=True)
class _Claimed:
    event_id: str
    subscription_id: str
    seq: int
    url: str | None
    secret_sealed: bytes
    sealed: bytes


class Courier:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        seal: OutboxSeal,
        channel: DeliveryChannel,
        transport: Transport,
        budget: RetryBudget,
    ) -> None:
        self._sessions = sessions
        self._seal = seal
        self._channel = channel
        self._transport = transport
        self._budget = budget

    def run(self, *, max_seconds: float = 20.0) -> DeliveryResult:
        """Rounds until no head is due or *max_seconds* have passed."""
        result = DeliveryResult()
        started = time.monotonic()
        claimed = self._claim()
        if not claimed:  # the common case, every few seconds: no client, no connection
            return result
        with self._transport.opened() as sender:
            while claimed:
                outgoing = [[self._signed(event) for event in batch] for batch in claimed]
                self._record(claimed, sender.send(outgoing), result)
                if time.monotonic() - started >= max_seconds:
                    break
                claimed = self._claim()
        return result

    def _claim(self) -> list[list[_Claimed]]:
        now = clock.now()
        mine = (
            select(Subscription.id)
            .where(Subscription.status == SubscriptionStatus.ACTIVE)
            .where(Subscription.delivery == self._channel)
        )
        first = (
            select(SubscriptionEvent.subscription_id, func.min(SubscriptionEvent.seq).label("seq"))
            .where(SubscriptionEvent.status == EventStatus.PENDING)
            .where(SubscriptionEvent.subscription_id.in_(mine))
            .group_by(SubscriptionEvent.subscription_id)
            .subquery()
        )
        heads = (
            select(SubscriptionEvent)
            .join(
                first,
                and_(
                    SubscriptionEvent.subscription_id == first.c.subscription_id,
                    SubscriptionEvent.seq == first.c.seq,
                ),
            )
            .where(SubscriptionEvent.next_attempt_at <= now)
            .order_by(SubscriptionEvent.next_attempt_at, SubscriptionEvent.id)
            .limit(ROUND)
            .with_for_update(skip_locked=True, of=SubscriptionEvent)
        )
        with unit_of_work(self._sessions, write=True) as session:
            rows = list(session.scalars(heads))
            subs = {
                s.id: s
                for s in session.scalars(
                    select(Subscription).where(
                        Subscription.id.in_({r.subscription_id for r in rows})
                    )
                )
            }
            claimed = []
            for row in rows:
                row.next_attempt_at = now + timedelta(seconds=LEASE_S)
                sub = subs[row.subscription_id]
                if sub.secret_sealed is None:
                    continue  # webhook and broker subscriptions have a secret
                batch = [row, *self._followers(session, row)]
                claimed.append(
                    [
                        _Claimed(r.id, sub.id, r.seq, sub.url, sub.secret_sealed, r.sealed)
                        for r in batch
                    ]
                )
        return claimed

    def _followers(self, session: Session, head: SubscriptionEvent) -> list[SubscriptionEvent]:
        """The pending events after *head*, in order, that go in the same round (the head's
        lease keeps every other worker off this subscription)."""
        more = self._transport.per_subscription - 1
        if more <= 0:
            return []
        return list(
            session.scalars(
                select(SubscriptionEvent)
                .where(SubscriptionEvent.subscription_id == head.subscription_id)
                .where(SubscriptionEvent.status == EventStatus.PENDING)
                .where(SubscriptionEvent.seq > head.seq)
                .order_by(SubscriptionEvent.seq)
                .limit(more)
            )
        )

    def _signed(self, event: _Claimed) -> Outgoing:
        payload = self._seal.open_event(event.subscription_id, event.event_id, event.sealed)
        body = _body(payload)
        secret = self._seal.open_secret(event.subscription_id, event.secret_sealed)
        headers = signature_headers(secret, event.event_id, int(time.time()), body)
        return Outgoing(event.event_id, event.subscription_id, event.seq, event.url, body, headers)

    def _record(
        self,
        claimed: Sequence[Sequence[_Claimed]],
        outcomes: Sequence[Sequence[AttemptResult]],
        result: DeliveryResult,
    ) -> None:
        now = clock.now()
        with unit_of_work(self._sessions, write=True) as session:
            for batch, results in zip(claimed, outcomes, strict=True):
                for event, outcome in zip(batch, results, strict=False):
                    self._recorded(session, event, outcome, result, now)
                for event in batch[len(results) :]:
                    if event is batch[0]:  # never attempted: free the head's lease
                        row = session.get(SubscriptionEvent, event.event_id)
                        if row is not None and row.status == EventStatus.PENDING:
                            row.next_attempt_at = now

    def _recorded(
        self,
        session: Session,
        event: _Claimed,
        outcome: AttemptResult,
        result: DeliveryResult,
        now: datetime,
    ) -> None:
        row = session.get(SubscriptionEvent, event.event_id, with_for_update=True)
        if row is None or row.status != EventStatus.PENDING:
            return
        row.attempts += 1
        if outcome.delivered:
            row.status = EventStatus.DELIVERED
            row.delivered_at = now
            row.last_error = None
            result.delivered += 1
            return
        row.last_error = outcome.error
        result.failed += 1
        if row.attempts >= self._budget.max_attempts:
            row.status = EventStatus.DEAD
            result.dead += 1
        else:
            delay = self._budget.delay_after(row.attempts)
            row.next_attempt_at = now + timedelta(seconds=delay)


def _body(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
