"""Freshness: each published resource's declared update frequency against its last refresh.

What "last refreshed" means depends on how the hub reads the resource:

* **cached**: the start of the last successful sync (the cache's as-of time). Never synced is
  overdue.
* **live**: the data is read from the source at query time, so it is as fresh as the source
  itself; the hub cannot see when a department last changed a table without a watermark
  query it does not make per request. What the hub can vouch for is that it can read the
  source: last refreshed is the time of a successful health probe (made when the report is
  asked for, concurrently, each bounded by the adapter's timeout; remembered for
  ``PROBE_TTL``). A source that fails its probe is overdue.
* **unbound**: no source is configured; never refreshed, overdue.

``due_by`` is last refreshed plus the declared period (``FREQUENCY_PERIODS``); ``irregular``
has no period and is never overdue once refreshed. Overdue is ``now > due_by`` or never
refreshed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import Resource
from catalogue.reading import latest_versions
from exchange.sources.cache.models import CacheSyncState
from exchange.sources.registry import SourceRegistry

__all__ = [
    "FREQUENCY_PERIODS",
    "PROBE_TTL",
    "ResourceFreshness",
    "freshness_gauges",
    "freshness_report",
]

FREQUENCY_PERIODS: Final[Mapping[str, timedelta | None]] = {
    "realtime": timedelta(minutes=15),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=31),
    "quarterly": timedelta(days=92),
    "semiannual": timedelta(days=183),
    "annual": timedelta(days=366),
    "irregular": None,
}
PROBE_TTL: Final = timedelta(seconds=30)


@dataclass(frozen=True)
class ResourceFreshness:
    resource: str
    provider: str
    mode: str  # live | cached | unbound
    update_frequency: str
    last_refreshed: datetime | None
    due_by: datetime | None
    overdue: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "provider": self.provider,
            "mode": self.mode,
            "update_frequency": self.update_frequency,
            "last_refreshed": _text(self.last_refreshed),
            "due_by": _text(self.due_by),
            "overdue": self.overdue,
        }


def freshness_report(
    session: Session, sources: SourceRegistry, now: datetime
) -> list[ResourceFreshness]:
    """Every published, not deprecated resource's freshness, by resource code."""
    rows = session.execute(
        latest_versions().where(Resource.deprecated_at.is_(None)).order_by(Resource.code)
    ).all()
    states = {s.resource: s for s in session.scalars(select(CacheSyncState))}
    live = _live_probes(sources, now)
    report = []
    for resource, version in rows:
        frequency = str(version.descriptor.get("update_frequency", "irregular"))
        binding = sources.binding(resource.code)
        if binding is None:
            mode, refreshed = "unbound", None
        elif binding.cached:
            state = states.get(resource.code)
            mode, refreshed = "cached", None if state is None else state.last_success_at
        else:
            mode, refreshed = "live", live.get(resource.code)
        report.append(
            _judged(resource.code, resource.provider_code, mode, frequency, refreshed, now)
        )
    return report


def freshness_gauges(
    session: Session, sources: SourceRegistry, now: datetime
) -> list[tuple[str, str, float, bool]]:
    """(resource, provider, age in seconds, overdue) for the metrics endpoint; the age of a
    resource never refreshed is ``+Inf``."""
    return [
        (
            f.resource,
            f.provider,
            math.inf if f.last_refreshed is None else (now - f.last_refreshed).total_seconds(),
            f.overdue,
        )
        for f in freshness_report(session, sources, now)
    ]


def _judged(
    code: str,
    provider: str,
    mode: str,
    frequency: str,
    refreshed: datetime | None,
    now: datetime,
) -> ResourceFreshness:
    period = FREQUENCY_PERIODS.get(frequency)
    if refreshed is None:
        return ResourceFreshness(code, provider, mode, frequency, None, None, True)
    due_by = None if period is None else refreshed + period
    overdue = due_by is not None and now > due_by
    return ResourceFreshness(code, provider, mode, frequency, refreshed, due_by, overdue)


_probe_lock = threading.Lock()
_probed: WeakKeyDictionary[SourceRegistry, tuple[datetime, dict[str, datetime | None]]] = (
    WeakKeyDictionary()
)


def _live_probes(sources: SourceRegistry, now: datetime) -> dict[str, datetime | None]:
    """Live resources whose source answers its health probe now (remembered ``PROBE_TTL``)."""
    with _probe_lock:
        remembered = _probed.get(sources)
    if remembered is not None and now - remembered[0] < PROBE_TTL:
        return remembered[1]
    live = [r for r in sources.bound() if not getattr(sources.binding(r), "cached", False)]
    reports = sources.health() if live else {}
    found: dict[str, datetime | None] = {
        r: now if reports.get(r) is not None and reports[r].ok else None for r in live
    }
    with _probe_lock:
        _probed[sources] = (now, found)
    return found


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
