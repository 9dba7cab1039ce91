"""Webhook delivery from the outbox: the ``subscriptions.deliver`` job.

Per subscription, events go out **in order**: only a subscription's lowest pending event (its
head) is ever attempted, so a later event never overtakes an earlier one. A round:

1. **claim** the due heads of active webhook subscriptions in one short transaction (PostgreSQL:
   ``FOR UPDATE SKIP LOCKED``, so several workers share the work without waiting on each other;
   SQLite: writers are serialised) and lease each one (its next attempt moves
   :data:`LEASE_S` ahead), so nobody else attempts it while this worker does;
2. **attempt** each outside any transaction (:func:`~exchange.subscriptions.webhooks.post_event`:
   the URL checked again on the addresses it resolves to now, the payload signed);
3. **record** the result: ``delivered`` on a 2xx; otherwise the next attempt waits
   ``TONGBAN_SUBSCRIPTION_RETRY_FIRST_S`` doubled after each failure, capped at
   ``TONGBAN_SUBSCRIPTION_RETRY_MAX_S``, and after ``TONGBAN_SUBSCRIPTION_MAX_ATTEMPTS``
   the event is ``dead`` (dead-lettered: listed by the pull API, replayable) and the next event
   becomes the head.

A worker that dies after claiming leaves the lease to run out; the event is attempted again
then. An event may thus be delivered more than once (at least once): its ``webhook-id`` is the
event id, the same on every attempt, for the consumer to deduplicate.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from exchange import clock
from exchange.db import unit_of_work
from exchange.subscriptions.models import (
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

__all__ = ["Courier", "DeliveryResult", "RetryBudget"]

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
class _Claimed:
    event_id: str
    subscription_id: str
    url: str
    secret_sealed: bytes
    sealed: bytes


class Courier:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        seal: OutboxSeal,
        policy: WebhookPolicy,
        budget: RetryBudget,
    ) -> None:
        self._sessions = sessions
        self._seal = seal
        self._policy = policy
        self._budget = budget

    def run(self, *, max_seconds: float = 20.0) -> DeliveryResult:
        """Rounds until no head is due or *max_seconds* have passed."""
        result = DeliveryResult()
        started = time.monotonic()
        claimed = self._claim()
        if not claimed:  # the common case, every few seconds: no client, no threads
            return result
        with (
            ThreadPoolExecutor(PARALLEL, thread_name_prefix="tongban-webhook") as pool,
            webhook_client() as client,
        ):
            while claimed:
                attempts = pool.map(lambda event: self._attempt(event, client), claimed)
                for event, outcome in zip(claimed, attempts, strict=True):
                    self._record(event, outcome, result)
                if time.monotonic() - started >= max_seconds:
                    break
                claimed = self._claim()
        return result

    def _claim(self) -> list[_Claimed]:
        now = clock.now()
        webhooks = (
            select(Subscription.id)
            .where(Subscription.status == SubscriptionStatus.ACTIVE)
            .where(Subscription.url.is_not(None))
        )
        first = (
            select(SubscriptionEvent.subscription_id, func.min(SubscriptionEvent.seq).label("seq"))
            .where(SubscriptionEvent.status == EventStatus.PENDING)
            .where(SubscriptionEvent.subscription_id.in_(webhooks))
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
                if sub.url is None or sub.secret_sealed is None:
                    continue  # the claim query only picks webhook subscriptions
                claimed.append(_Claimed(row.id, sub.id, sub.url, sub.secret_sealed, row.sealed))
        return claimed

    def _attempt(self, event: _Claimed, client: httpx.Client) -> AttemptResult:
        payload = self._seal.open_event(event.subscription_id, event.event_id, event.sealed)
        body = _body(payload)
        secret = self._seal.open_secret(event.subscription_id, event.secret_sealed)
        headers = signature_headers(secret, event.event_id, int(time.time()), body)
        return post_event(self._policy, event.url, body, headers, client)

    def _record(self, event: _Claimed, outcome: AttemptResult, result: DeliveryResult) -> None:
        now = clock.now()
        with unit_of_work(self._sessions, write=True) as session:
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
