"""``GET /metrics``: Prometheus text exposition (format 0.0.4), for the operator only.

Every family is computed from the database when scraped, so each worker answers the same.
:data:`METRIC_SOURCES` lists the families' sources, each a function of the request's session
and the app's :class:`MetricScope`: the jobs (duration, rows, failures) and the resources'
freshness (age, overdue). The admission control's families (refusals, queue depth, requests in
flight) are the one exception: they are this worker's own, labelled with its process id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.orm import Session

from exchange.api.admission import admission_metrics
from exchange.api.deps import Hub, HubState, StaffBearer
from exchange.api.jobs import hub_jobs
from exchange.api.problems import problem_responses
from exchange.db import unit_of_work
from exchange.errors import Forbidden
from exchange.jobs.metrics import job_metrics
from exchange.security.identity import Role
from exchange.sources.cache.freshness import freshness_gauges

__all__ = ["CONTENT_TYPE", "METRIC_SOURCES", "MetricScope", "router"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

router = APIRouter(tags=["operations"])


@dataclass(frozen=True)
class MetricScope:
    """What a metric source may look at besides the database."""

    hub: HubState
    job_ids: Sequence[str]


MetricSource = Callable[[Session, MetricScope], Iterable[Metric]]


def _jobs(session: Session, scope: MetricScope) -> Iterable[Metric]:
    return job_metrics(session, scope.job_ids)


def _freshness(session: Session, scope: MetricScope) -> Iterable[Metric]:
    """Each resource's age against its declared update frequency (docs/cache.md)."""
    age = GaugeMetricFamily(
        "tongban_resource_age_seconds",
        "Seconds since the resource was last refreshed (cached: last successful sync; "
        "live: its last successful health probe); +Inf if never",
        labels=["resource", "provider"],
    )
    overdue = GaugeMetricFamily(
        "tongban_resource_overdue",
        "1 when the resource is older than its declared update frequency allows",
        labels=["resource", "provider"],
    )
    for resource, provider, seconds, late in freshness_gauges(
        session, scope.hub.sources, datetime.now(UTC)
    ):
        age.add_metric([resource, provider], seconds)
        overdue.add_metric([resource, provider], 1.0 if late else 0.0)
    return (age, overdue)


def _witnesses(session: Session, scope: MetricScope) -> Iterable[Metric]:
    """How far the witnessed checkpoint lags behind the log (docs/witness.md)."""
    gap = scope.hub.witnessing.gap(session)
    unwitnessed = GaugeMetricFamily(
        "tongban_audit_unwitnessed_entries",
        "Audit entries no checkpoint that meets the witness policy covers yet",
    )
    unwitnessed.add_metric([], gap.unwitnessed_entries)
    cosigned = GaugeMetricFamily(
        "tongban_audit_witness_cosigned_size",
        "The largest tree size each witness of the policy has cosigned",
        labels=["witness"],
    )
    failing = GaugeMetricFamily(
        "tongban_audit_witness_failing",
        "1 when the witness refused or did not answer the hub's last submission",
        labels=["witness"],
    )
    for row in gap.witnesses:
        cosigned.add_metric([row.name], row.cosigned_size)
        failing.add_metric([row.name], 1.0 if row.last_error is not None else 0.0)
    return (unwitnessed, cosigned, failing)


METRIC_SOURCES: tuple[MetricSource, ...] = (_jobs, _freshness, _witnesses)


class _Families:
    """The families of one scrape, as the collector ``generate_latest`` reads."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


@router.get(
    "/metrics",
    summary="Prometheus metrics (operator)",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
        **problem_responses(401, 403),
    },
)
def metrics(request: Request, hub: Hub, staff: StaffBearer) -> Response:
    if staff.role is not Role.OPERATOR:
        raise Forbidden("only the hub operator may read the metrics")
    scope = MetricScope(hub, [spec.id for spec in hub_jobs(request)])
    with unit_of_work(hub.sessions) as session:
        families = [family for source in METRIC_SOURCES for family in source(session, scope)]
    families.extend(admission_metrics(getattr(request.app.state, "admission", None)))
    body = generate_latest(_Families(families))
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
