"""Admission control: each worker process runs a bounded number of requests at once and keeps a
bounded, short queue; past it, a request is refused at once with 503 ``overloaded`` and
``Retry-After`` instead of waiting behind every other one (issue 21, "tail under load").

Without it, one worker accepts every request and its sync routes wait, without bound, for the
thread pool and the GIL: at 64 clients every answer took half a second. With it, what the hub
accepts it answers within the latency bound, and what it cannot it says so in a millisecond, so a
client (or the load balancer) retries elsewhere or later.

The order of the checks, for each HTTP request:

1. A path of :data:`EXEMPT_PATHS` (the liveness and readiness probes, the operator's metrics)
   passes untouched and uncounted: an overloaded hub must still be seen to be one; so does a
   ``GET`` of the console's files (:data:`EXEMPT_FILES`), so that a page always loads.
2. A request is admitted at once while fewer than ``max_in_flight`` run and none waits.
3. Else it is refused at once if ``max_queue`` requests wait already, or if it would wait
   longer than ``queue_wait_ms`` by the estimate: the requests ahead of it and itself, served
   ``max_in_flight`` at a time, each holding its slot for the moving average of the recent
   ones. Otherwise it waits in the queue, first come first served.
4. A request that has waited ``queue_wait_ms`` without a free slot (the estimate was wrong) is
   refused then.
5. An admitted request holds its slot until its response is sent; the slot then goes to the
   oldest waiting request, or is freed.

A refusal never reaches the routes: nothing is read, written or audited (no exchange happened).
It is counted (``tongban_admission_refused_total`` in ``/metrics``, by its reason, one of
:data:`REFUSAL_REASONS`, with the queue depth and the requests in flight, per worker process)
and logged as one warning at most every
:data:`WARNING_INTERVAL_S` with the number refused since the last; the log names no path, client
or subject. Everything runs in the worker's event loop (a counter and a deque of futures), so
admission costs no thread and no lock.

The bounds are settings (the README's configuration table, docs/deployment.md); admission is
on by default in ``prod`` and off in ``dev`` (the demo, and the tests that race requests on
purpose, which a bound of 4 would serialise). The defaults,
``max_in_flight`` 4, ``max_queue`` 16 and ``queue_wait_ms`` 50, come from the p99 target of 250
ms for accepted requests: an accepted request's time is its wait (at most ``queue_wait_ms``) plus
its service, and a worker is one GIL, so its service time grows with every request it runs at
once (about 4 x 10-20 ms of CPU here). Four in flight still overlap the waits on the audit
commit and the sources; more only lengthen each request. docs/performance.md, "Tail under load",
has the measurements.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Receive, Scope, Send

from schemas import TongbanError

__all__ = [
    "EXEMPT_FILES",
    "EXEMPT_PATHS",
    "REFUSAL_REASONS",
    "RETRY_AFTER_S",
    "Admission",
    "AdmissionGate",
    "AdmissionLimits",
    "Overloaded",
    "admission_metrics",
]

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Never queued nor refused: the probes a load balancer and an operator need most when the hub
is overloaded."""
EXEMPT_FILES = ("/console/", "/static/")
"""``GET`` and ``HEAD`` of ``/console`` and under these prefixes are never queued nor refused
either: the console's page and its files (about twenty ES modules, asked for at once when a page
loads) and the API viewer's. They are files read from the package, a millisecond each, touching
no database; refusing one of a page's modules leaves a person a blank page, and what admission
protects is the exchange's latency."""
RETRY_AFTER_S = 1
"""The ``Retry-After`` of a refusal, in seconds: an overload is measured in the time the
queue takes to drain (well under a second), so one second is the shortest honest answer."""
SERVICE_WEIGHT = 0.1
"""The weight of the latest request in the moving average of the time a request holds a slot:
about the last 10-20 requests count."""
REFUSAL_REASONS = ("queue_full", "wait_estimate", "waited_bound")
"""Why a request was refused, as ``/metrics`` labels it: the queue held ``max_queue``; the
estimate said it would wait past ``queue_wait_ms``; it waited that long without a slot (the
estimate was wrong). Tuning reads them apart: many ``queue_full`` asks for a longer queue or more
workers, many ``waited_bound`` says the estimate trails a change in the requests' cost."""
WARNING_INTERVAL_S = 10.0
"""At most one warning per interval, however many requests are refused."""
_PROBLEM_JSON = b"application/problem+json"
log = logging.getLogger("tongban.http")


class Overloaded(TongbanError):
    """This worker of the hub runs and queues as many requests as it may; the request was
    refused before any work, so it may be sent again after ``Retry-After`` seconds."""

    code = "overloaded"
    status = 503
    title = "Hub overloaded"


@dataclass(frozen=True)
class AdmissionLimits:
    """The bounds of one worker process (settings ``max_in_flight``, ``max_queue``,
    ``queue_wait_ms``)."""

    max_in_flight: int
    max_queue: int
    queue_wait_ms: int


class AdmissionGate:
    """The slots and the queue of one worker process; used from its event loop only.

    :meth:`enter` says whether a request is admitted (steps 2-4 of the module docstring), and an
    admitted request calls :meth:`leave` once, when it is done (step 5), with the time it
    held the slot."""

    def __init__(
        self, limits: AdmissionLimits, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self.in_flight = 0
        self.refused = 0
        self.refused_by: dict[str, int] = dict.fromkeys(REFUSAL_REASONS, 0)
        self.service_s = 0.0  # moving average of the time a request holds its slot
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._bound_s = limits.queue_wait_ms / 1000
        self._clock = clock
        self._unreported = 0
        self._last_warning = float("-inf")

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    async def enter(self) -> bool:
        if self.in_flight < self.limits.max_in_flight and not self._waiting:
            self.in_flight += 1
            return True
        if len(self._waiting) >= self.limits.max_queue:
            return self._refuse("queue_full")
        if self.expected_wait_s() > self._bound_s:
            return self._refuse("wait_estimate")
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(slot)
        try:
            async with asyncio.timeout(self._bound_s):
                await slot
        except TimeoutError:
            if not _handed_over(slot):
                return self._refuse("waited_bound")
        except BaseException:  # the request was cancelled while it waited
            if _handed_over(slot):
                self.leave()
            raise
        finally:
            if slot in self._waiting:
                self._waiting.remove(slot)
        return True

    def leave(self, held_s: float | None = None) -> None:
        """Hands the slot to the oldest waiting request, else frees it; ``held_s``, how long
        the request held it, goes into :attr:`service_s`."""
        if held_s is not None:
            self.service_s += SERVICE_WEIGHT * (held_s - self.service_s)
        while self._waiting:
            slot = self._waiting.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.in_flight -= 1

    def expected_wait_s(self) -> float:
        """How long a request queued now would wait for a slot: the requests ahead of it and
        itself, served ``max_in_flight`` at a time, each in :attr:`service_s`."""
        ahead = len(self._waiting) + 1
        return ahead * self.service_s / self.limits.max_in_flight

    def _refuse(self, reason: str) -> bool:
        self.refused += 1
        self.refused_by[reason] += 1
        self._unreported += 1
        now = self._clock()
        if now - self._last_warning >= WARNING_INTERVAL_S:
            log.warning(
                "overloaded: refused %d request(s) with 503 since the last warning; %d in "
                "flight, %d queued (max_in_flight %d, max_queue %d, queue_wait_ms %d)",
                self._unreported,
                self.in_flight,
                len(self._waiting),
                self.limits.max_in_flight,
                self.limits.max_queue,
                self.limits.queue_wait_ms,
            )
            self._unreported = 0
            self._last_warning = now
        return False


def _handed_over(slot: asyncio.Future[None]) -> bool:
    """Whether :meth:`AdmissionGate.leave` gave ``slot`` a slot (perhaps at its deadline)."""
    return slot.done() and not slot.cancelled()


class Admission:
    """ASGI middleware: admits each HTTP request through ``gate`` or answers 503 ``overloaded``.

    Sits inside ``RequestContext`` (the refusal carries the request id) and ``SecurityHeaders``
    (and their headers)."""

    def __init__(self, app: ASGIApp, *, gate: AdmissionGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope):
            await self.app(scope, receive, send)
            return
        if not await self.gate.enter():
            await _send_overloaded(scope, send)
            return
        admitted = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave(time.monotonic() - admitted)


def _exempt(scope: Scope) -> bool:
    path = _route_path(scope)
    if path in EXEMPT_PATHS:
        return True
    reading = scope.get("method") in ("GET", "HEAD")
    return reading and (path == "/console" or path.startswith(EXEMPT_FILES))


def _route_path(scope: Scope) -> str:
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


async def _send_overloaded(scope: Scope, send: Send) -> None:
    refused = Overloaded(
        "the hub is serving as many requests as it can; send this one again after "
        f"{RETRY_AFTER_S} s (Retry-After)",
        extensions={"retry_after": RETRY_AFTER_S},
    )
    rid = str(scope.get("state", {}).get("request_id", ""))
    payload = json.dumps({**refused.problem(), "request_id": rid}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", _PROBLEM_JSON),
                (b"content-length", str(len(payload)).encode()),
                (b"retry-after", str(RETRY_AFTER_S).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def admission_metrics(gate: AdmissionGate | None) -> Iterable[Metric]:
    """This worker's refusals, queue depth and requests in flight, labelled with its process
    id (each worker of ``serve --workers N`` counts its own); nothing when admission is off."""
    if gate is None:
        return ()
    worker = [str(os.getpid())]
    refused = CounterMetricFamily(
        "tongban_admission_refused",
        "Requests this worker refused with 503 overloaded, by reason (REFUSAL_REASONS)",
        labels=["worker", "reason"],
    )
    for reason, count in gate.refused_by.items():
        refused.add_metric([*worker, reason], count)
    queued = GaugeMetricFamily(
        "tongban_admission_queue_depth",
        "Requests waiting for a slot in this worker now",
        labels=["worker"],
    )
    queued.add_metric(worker, gate.queue_depth)
    running = GaugeMetricFamily(
        "tongban_admission_in_flight",
        "Requests admitted and running in this worker now (exempt probes not counted)",
        labels=["worker"],
    )
    running.add_metric(worker, gate.in_flight)
    return (refused, queued, running)
