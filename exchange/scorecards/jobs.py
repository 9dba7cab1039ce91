"""Scheduled work of the scorecards: probing every bound source (``probe.sources``), and
keeping each closed month's scorecards once it has ended (``scorecards.months``,
:mod:`exchange.scorecards.stored`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select

from catalogue.models import Resource
from exchange.db import unit_of_work
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec, rows_of
from exchange.scorecards.models import SourceProbe
from exchange.scorecards.stored import store_closed_months
from exchange.sources.registry import SourceRegistry

__all__ = ["MONTHS_EVERY_S", "PROBES_KEPT", "PROBE_EVERY_S", "jobs", "probe_sources"]

MONTHS_EVERY_S = 3600
"""Hourly: a month's scorecards are kept within an hour of its end (China time)."""

PROBE_EVERY_S = 900
"""A probe every 15 minutes: 96 a day per source, enough for a month's availability."""
PROBES_KEPT = timedelta(days=400)
"""Probes older than this are deleted (a year's scorecards and the month before stay)."""


def probe_sources(sources: SourceRegistry, context: JobContext) -> JobOutcome:
    """Probe each bound source once and keep the answer; delete probes past
    :data:`PROBES_KEPT`."""
    reports = sources.health()
    with unit_of_work(context.sessions, write=True) as session:
        providers = {
            k: v for k, v in session.execute(select(Resource.code, Resource.provider_code))
        }
        for resource, report in sorted(reports.items()):
            provider = providers.get(resource)
            if provider is None:
                continue  # bound, but not (or no longer) in the catalogue
            session.add(
                SourceProbe(
                    resource=resource,
                    provider=provider,
                    probed_at=context.now,
                    ok=report.ok,
                    latency_ms=float(report.latency_ms),
                )
            )
        deleted = rows_of(
            session.execute(
                delete(SourceProbe).where(SourceProbe.probed_at < context.now - PROBES_KEPT)
            )
        )
    return JobOutcome(
        rows=len(reports),
        detail={"down": sum(not r.ok for r in reports.values()), "deleted": deleted},
    )


def jobs(sources: Callable[[], SourceRegistry]) -> list[JobSpec]:
    return [
        JobSpec(
            "probe.sources",
            "Probe every bound source and keep its availability and latency for the scorecards",
            lambda context: probe_sources(sources(), context),
            every_s=PROBE_EVERY_S,
        ),
        JobSpec(
            "scorecards.months",
            "Compute and keep the scorecards of the month just ended",
            lambda context: JobOutcome(rows=store_closed_months(context.sessions, context.now)),
            every_s=MONTHS_EVERY_S,
        ),
    ]
