"""Scheduler entry of federation: the events of subscriptions held at peer hubs (回流).

``federation.events`` (every 2 s) is :meth:`~exchange.federation.subscriptions.PeerFeed.run`:
each subscription this hub holds at a source peer is read there (its events after the last one
accepted), checked with the pinned keys, and its events appended to the local outbox, where the
``subscriptions.deliver`` job takes them on. It runs once across hub workers (docs/jobs.md).
"""

from __future__ import annotations

from collections.abc import Callable

from exchange.federation.subscriptions import PeerFeed
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec, RetryPolicy

__all__ = ["jobs"]

EVENTS_EVERY_S = 2


def jobs(feed: Callable[[], PeerFeed]) -> list[JobSpec]:
    def pull(context: JobContext) -> JobOutcome:
        result = feed().run()
        detail = {
            "pulled": result.pulled,
            "events": result.events,
            "duplicates": result.duplicates,
            "refused": result.refused,
            "failures": result.failures,
        }
        return JobOutcome(rows=result.events, detail=detail)

    return [
        JobSpec(
            id="federation.events",
            description="pull the events of subscriptions held at peer hubs into the outbox",
            run=pull,
            every_s=EVENTS_EVERY_S,
            retry=RetryPolicy(attempts=1),
        )
    ]
