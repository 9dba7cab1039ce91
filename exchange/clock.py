"""The hub's clock: the one place the exchange's services read the time from.

:func:`now` is the real time (UTC), except inside :func:`simulated`, which only the demo uses:
``tongban demo --traffic`` builds its world four weeks back and replays weeks of traffic day by
day, so that the auditor's and operator's charts show a city's history and not one afternoon.
Every entry of that history goes through the same pipeline, log and services as a request's;
only the moment they read is the simulated one. The simulation is held in a context variable,
so it is confined to the code that entered it (the demo builder's own thread and what it hands
to thread pools with :func:`contextvars.copy_context`): a request being served never sees it.

A simulated clock only moves forward and never passes the real clock, so what it writes is
history that ends before anything written after it: the log's times stay in order.

The HTTP layer reads the real time itself (``datetime.now(UTC)``); the policies are handed
theirs (ADR 0001).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

__all__ = ["SimulatedClock", "now", "simulated"]


class SimulatedClock:
    """A clock set to a past moment and moved forward by its owner (:meth:`set`,
    :meth:`advance`). Between two moves it runs at real speed from the moment set, so that
    entries written one after another get distinct, increasing times."""

    def __init__(self, start: datetime) -> None:
        self._base = _checked_aware(start)
        self._since = time.monotonic()
        self._latest = self._base
        if self._base > datetime.now(UTC):
            raise ValueError("a simulated clock starts in the past, not in the future")

    def now(self) -> datetime:
        moment = self._base + timedelta(seconds=time.monotonic() - self._since)
        moment = min(moment, datetime.now(UTC))
        self._latest = max(self._latest, moment)
        return self._latest

    def set(self, moment: datetime) -> datetime:
        """Move the clock to *moment*: after every time it has given, and not after the real
        time (``ValueError`` otherwise: history is written in order). Returns *moment*."""
        moment = _checked_aware(moment)
        if moment < self._latest:
            raise ValueError(f"a simulated clock moves forward only, not back to {moment}")
        if moment > datetime.now(UTC):
            raise ValueError(f"a simulated clock does not pass the real time ({moment})")
        self._base, self._since, self._latest = moment, time.monotonic(), moment
        return moment

    def advance(self, by: timedelta) -> datetime:
        return self.set(self.now() + by)


_SIMULATED: ContextVar[SimulatedClock | None] = ContextVar("tongban_simulated_clock", default=None)


def now() -> datetime:
    """The current time, aware, in UTC (a simulated one inside :func:`simulated`)."""
    clock = _SIMULATED.get()
    return datetime.now(UTC) if clock is None else clock.now()


@contextmanager
def simulated(start: datetime) -> Iterator[SimulatedClock]:
    """Within the block, :func:`now` reads a :class:`SimulatedClock` started at *start*
    (demo only; see the module docstring)."""
    if _SIMULATED.get() is not None:
        raise RuntimeError("a simulated clock is already running here")
    clock = SimulatedClock(start)
    token = _SIMULATED.set(clock)
    try:
        yield clock
    finally:
        _SIMULATED.reset(token)


def _checked_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the clock is set to an aware time, not a naive one")
    return moment.astimezone(UTC)
