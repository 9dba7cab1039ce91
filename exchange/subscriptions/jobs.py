"""Scheduler entries of subscriptions: read the change streams into the outbox, and deliver.

``subscriptions.changes`` (every 5 s) is :meth:`~exchange.subscriptions.outbox.ChangeReader.run`;
``subscriptions.deliver`` (every 2 s) is :meth:`~exchange.subscriptions.delivery.Courier.run`
for webhook subscriptions and, when the hub has a broker, for broker ones (published to NATS
JetStream or RabbitMQ: :mod:`exchange.subscriptions.brokers`).
Each runs once across hub workers (docs/jobs.md); delivery is also safe when two runs overlap
(claims are leased rows).
"""

from __future__ import annotations

from collections.abc import Callable

from exchange.jobs.spec import JobContext, JobOutcome, JobSpec, RetryPolicy
from exchange.subscriptions.delivery import Courier
from exchange.subscriptions.outbox import ChangeReader

__all__ = ["jobs"]

CHANGES_EVERY_S = 5
DELIVER_EVERY_S = 2


def jobs(
    reader: Callable[[], ChangeReader],
    courier: Callable[[], Courier],
    broker_courier: Callable[[], Courier | None] = lambda: None,
) -> list[JobSpec]:
    def read(context: JobContext) -> JobOutcome:
        result = reader().run()
        return JobOutcome(
            rows=result.events, detail={"changes": result.changes, "events": result.events}
        )

    def deliver(context: JobContext) -> JobOutcome:
        result = courier().run()
        detail = {"delivered": result.delivered, "failed": result.failed, "dead": result.dead}
        publisher = broker_courier()
        if publisher is None:
            return JobOutcome(rows=result.delivered, detail=detail)
        published = publisher.run()
        detail |= {
            "published": published.delivered,
            "publish_failed": published.failed,
            "publish_dead": published.dead,
        }
        return JobOutcome(rows=result.delivered + published.delivered, detail=detail)

    return [
        JobSpec(
            id="subscriptions.changes",
            description="read subscribed resources' change streams into the subscription outbox",
            run=read,
            every_s=CHANGES_EVERY_S,
            retry=RetryPolicy(attempts=1),
        ),
        JobSpec(
            id="subscriptions.deliver",
            description="deliver due subscription events to their webhooks (and broker), in order",
            run=deliver,
            every_s=DELIVER_EVERY_S,
            retry=RetryPolicy(attempts=1),
        ),
    ]
