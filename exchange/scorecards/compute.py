"""The monthly scorecards (共享评价; 《政务数据共享条例》 art. 38, GB/T 38664.4).

A month is a China calendar month (UTC+8); the current month is counted up to now. Every figure
comes from the audit log's searchable columns and entries (which hold pseudonyms and no values)
and from the hub's own tables; nothing is read from a source and no personal data leaves this
module: the answer holds counts, ratios and catalogue codes only. Each metric, as computed here
(docs/scorecards.md says the same):

**Per provider department** (提供部门: the provider of at least one resource):

- *correction requests* (校核纠错, :mod:`exchange.corrections`): ``received`` filed in the month;
  ``resolved`` answered in the month (corrected or refused), ``on_time`` of them answered on or
  before their last working day; ``overdue_open`` still open at the month's end (or now) past
  that day;
- *agreement applications* (共享申请, :mod:`exchange.agreements`): ``received`` submitted in the
  month; ``answered`` decided in the month, ``on_time`` of them decided on or before their last
  working day; ``overdue_open`` pending at the month's end (or now) past it;
- *sources*: from the scheduled probes (:mod:`exchange.scorecards.jobs`), ``availability`` is
  the share of the month's probes of its sources that answered, ``latency_p50_ms`` and
  ``latency_p95_ms`` the median and 95th percentile of the answered probes' round trips; from the
  audit log, ``fetches`` is how many of its fields were fetched for an answer (released,
  withheld or unavailable) and ``fetch_failures`` how many of those were unavailable for a
  source-side reason (any reason but ``no_record``);
- *freshness* against each resource's declared update frequency (更新周期): a resource is
  ``fresh`` in the month if no two successive refreshes in the month (the last one before it
  included, the month's end or now closing it; its start, or the resource's publication if
  later, opening it) are further apart than its period plus :data:`FRESHNESS_GRACE`; a refresh
  is a successful sync run for a cached resource, a successful probe for a live one (read at
  query time, it is as fresh as it is reachable; its period is at least
  :data:`LIVE_MIN_PERIOD`, the probes' own granularity); ``irregular`` resources are fresh
  once refreshed at all;
- *disputed attributes* (异议标注): distinct attributes with a correction request filed in the
  month;
- *data-quality ratings* (:mod:`exchange.feedback`): consumer departments' ratings of its
  resources (``count``, ``mean_score``), and in all ratings of the month the attributes of its
  resources marked wrong (``wrong_marks``) or asked again on paper although the hub could
  supply them (``asked_again``).

**Per consumer department** (使用部门: a department with at least one registered system):

- *use within purpose*: of its accesses in the month (queries, verifies, subscription events),
  those with no attribute refused ``purpose_mismatch`` (a purpose not registered, or not the
  service item's); ``within_purpose`` is their share;
- *anomalies* (异常访问): the audit statistics' rules (:mod:`exchange.audit.stats`: volume spikes
  against the system's own baseline, night bulk access, spent verification budgets), counted
  per system and day in the month;
- *usage records* (使用记录, art. 25): ``not_built``: the hub keeps none yet, so there is no
  number to show;
- *citizen ratings* of the service items its systems handled: ``count``, ``mean_score``,
  ``asked_again`` (items asked on paper that the hub could have supplied).

**City-wide**: the sums of the above, and the ratios over the sums.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalogue.models import Department, Resource, System
from catalogue.reading import latest_versions
from exchange.agreements.models import Agreement, Origin
from exchange.agreements.workdays import CHINA_TZ, china_day
from exchange.audit.models import AuditRecord
from exchange.audit.reading import ACCESS_KINDS
from exchange.audit.stats import stats_between
from exchange.corrections.models import Correction, CorrectionStatus
from exchange.errors import MalformedRequest
from exchange.feedback.models import Rater, Rating
from exchange.jobs.models import JobRun, RunOutcome
from exchange.scorecards.models import SourceProbe
from exchange.sources.cache.freshness import FREQUENCY_PERIODS
from exchange.sources.cache.models import CacheSyncState
from schemas import ProblemDetail

__all__ = [
    "FRESHNESS_GRACE",
    "LIVE_MIN_PERIOD",
    "MonthRange",
    "Scorecards",
    "month_range",
    "recent_months",
    "scorecards",
]

FRESHNESS_GRACE = timedelta(hours=1)
"""Slack on a declared period for a scheduler's jitter."""
LIVE_MIN_PERIOD = timedelta(days=1)
"""A live source's shortest period for freshness: it is probed, not synced."""
_MONTH = re.compile(r"^(20[0-9]{2}|19[0-9]{2})-(0[1-9]|1[0-2])$")
_STREAM = 2000
_SOURCE_SIDE_OK = frozenset({"no_record"})
"""Unavailable reasons that are not the source's fault (the person has no record)."""


@dataclass(frozen=True)
class MonthRange:
    """A China month as ``[since, until)`` in UTC; ``until`` is now for the current month."""

    month: str
    since: datetime
    until: datetime
    last_day: date  # the last China day counted

    @property
    def complete(self) -> bool:
        return self.until == _month_start(_next(self.month))


def _month_start(month: str) -> datetime:
    year, number = int(month[:4]), int(month[5:])
    return datetime.combine(date(year, number, 1), time(0), CHINA_TZ).astimezone(UTC)


def _next(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def _previous(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year - (number == 1):04d}-{(number - 2) % 12 + 1:02d}"


def month_range(month: str | None, now: datetime) -> MonthRange:
    """The range of *month* (``YYYY-MM``, default the current China month);
    :class:`MalformedRequest` (pointer ``/month``) for a malformed month or one after now."""
    current = now.astimezone(CHINA_TZ).strftime("%Y-%m")
    month = current if month is None else month
    if not _MONTH.fullmatch(month):
        raise _bad_month("give the month as YYYY-MM")
    if month > current:
        raise _bad_month("the month has not begun yet")
    since = _month_start(month)
    until = min(_month_start(_next(month)), now.astimezone(UTC))
    return MonthRange(month, since, until, china_day(until - timedelta(microseconds=1)))


def recent_months(month: str, count: int) -> list[str]:
    """*count* months ending with *month*, oldest first."""
    months = [month]
    while len(months) < count:
        months.append(_previous(months[-1]))
    return months[::-1]


def _bad_month(problem: str) -> MalformedRequest:
    return MalformedRequest(
        f"month: {problem}", errors=[ProblemDetail(pointer="/month", detail=problem)]
    )


# -- the cards ---------------------------------------------------------------------------------


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _mean(values: Sequence[int]) -> float | None:
    return None if not values else round(sum(values) / len(values), 2)


@dataclass
class Clock:
    """Requests on a working-day clock: received, answered (on time), overdue and open."""

    received: int = 0
    answered: int = 0
    on_time: int = 0
    overdue_open: int = 0

    def add(self, other: Clock) -> None:
        self.received += other.received
        self.answered += other.answered
        self.on_time += other.on_time
        self.overdue_open += other.overdue_open

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "answered": self.answered,
            "on_time": self.on_time,
            "on_time_rate": _ratio(self.on_time, self.answered),
            "overdue_open": self.overdue_open,
        }


@dataclass
class Sources:
    probes: int = 0
    probes_ok: int = 0
    latencies: list[float] = field(default_factory=list)
    fetches: int = 0
    fetch_failures: int = 0

    def add(self, other: Sources) -> None:
        self.probes += other.probes
        self.probes_ok += other.probes_ok
        self.latencies += other.latencies
        self.fetches += other.fetches
        self.fetch_failures += other.fetch_failures

    def as_json(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "probes": self.probes,
            "availability": _ratio(self.probes_ok, self.probes),
            "latency_p50_ms": _percentile(ordered, 0.5),
            "latency_p95_ms": _percentile(ordered, 0.95),
            "fetches": self.fetches,
            "fetch_failures": self.fetch_failures,
            "fetch_success_rate": _ratio(self.fetches - self.fetch_failures, self.fetches),
        }


def _percentile(ordered: Sequence[float], q: float) -> float | None:
    if not ordered:
        return None
    if len(ordered) == 1:
        return round(ordered[0], 1)
    return round(statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1], 1)


@dataclass
class Ratings:
    scores: list[int] = field(default_factory=list)
    wrong_marks: int = 0
    asked_again: int = 0

    def add(self, other: Ratings) -> None:
        self.scores += other.scores
        self.wrong_marks += other.wrong_marks
        self.asked_again += other.asked_again

    def as_json(self) -> dict[str, Any]:
        return {
            "count": len(self.scores),
            "mean_score": _mean(self.scores),
            "wrong_marks": self.wrong_marks,
            "asked_again": self.asked_again,
        }


@dataclass
class ProviderCard:
    department: str
    name: str
    corrections: Clock = field(default_factory=Clock)
    applications: Clock = field(default_factory=Clock)
    sources: Sources = field(default_factory=Sources)
    resources: int = 0
    fresh: int = 0
    stale: list[str] = field(default_factory=list)
    disputed: set[str] = field(default_factory=set)
    ratings: Ratings = field(default_factory=Ratings)

    def as_json(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "name": self.name,
            "corrections": self.corrections.as_json(),
            "applications": self.applications.as_json(),
            "sources": self.sources.as_json(),
            "freshness": {
                "resources": self.resources,
                "fresh": self.fresh,
                "fresh_rate": _ratio(self.fresh, self.resources),
                "stale": sorted(self.stale),
            },
            "disputed_attributes": sorted(self.disputed),
            "ratings": self.ratings.as_json(),
        }


@dataclass
class ConsumerCard:
    department: str
    name: str
    systems: list[str] = field(default_factory=list)
    accesses: int = 0
    outside_purpose: int = 0
    anomalies: Counter[str] = field(default_factory=Counter)
    ratings: Ratings = field(default_factory=Ratings)

    def as_json(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "name": self.name,
            "systems": sorted(self.systems),
            "use": {
                "accesses": self.accesses,
                "outside_purpose": self.outside_purpose,
                "within_purpose": _ratio(self.accesses - self.outside_purpose, self.accesses),
            },
            "anomalies": {
                "total": sum(self.anomalies.values()),
                **dict(sorted(self.anomalies.items())),
            },
            "usage_records": "not_built",
            "ratings": self.ratings.as_json(),
        }


@dataclass
class Scorecards:
    range: MonthRange
    providers: dict[str, ProviderCard]
    consumers: dict[str, ConsumerCard]

    def city(self) -> dict[str, Any]:
        corrections, applications, sources, ratings, citizen = (
            Clock(),
            Clock(),
            Sources(),
            Ratings(),
            Ratings(),
        )
        resources = fresh = disputed = 0
        for card in self.providers.values():
            corrections.add(card.corrections)
            applications.add(card.applications)
            sources.add(card.sources)
            ratings.add(card.ratings)
            resources, fresh = resources + card.resources, fresh + card.fresh
            disputed += len(card.disputed)
        accesses = outside = anomalies = 0
        for consumer in self.consumers.values():
            accesses += consumer.accesses
            outside += consumer.outside_purpose
            anomalies += sum(consumer.anomalies.values())
            citizen.add(consumer.ratings)
        return {
            "corrections": corrections.as_json(),
            "applications": applications.as_json(),
            "sources": sources.as_json(),
            "freshness": {
                "resources": resources,
                "fresh": fresh,
                "fresh_rate": _ratio(fresh, resources),
            },
            "disputed_attributes": disputed,
            "provider_ratings": ratings.as_json(),
            "use": {
                "accesses": accesses,
                "outside_purpose": outside,
                "within_purpose": _ratio(accesses - outside, accesses),
            },
            "anomalies": anomalies,
            "usage_records": "not_built",
            "citizen_ratings": citizen.as_json(),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "month": self.range.month,
            "since": _iso(self.range.since),
            "until": _iso(self.range.until),
            "complete": self.range.complete,
            "city": self.city(),
            "providers": [self.providers[k].as_json() for k in sorted(self.providers)],
            "consumers": [self.consumers[k].as_json() for k in sorted(self.consumers)],
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- computing ---------------------------------------------------------------------------------


def scorecards(session: Session, month: MonthRange) -> Scorecards:
    """Every department's card for *month* (the module docstring's metrics)."""
    names = {k: v for k, v in session.execute(select(Department.code, Department.name))}
    resources = {k: v for k, v in session.execute(select(Resource.code, Resource.provider_code))}
    providers = {
        code: ProviderCard(code, names.get(code, code)) for code in set(resources.values())
    }
    systems = {k: v for k, v in session.execute(select(System.id, System.department_code))}
    consumers: dict[str, ConsumerCard] = {}
    for system, department in sorted(systems.items()):
        card = consumers.setdefault(
            department, ConsumerCard(department, names.get(department, department))
        )
        card.systems.append(system)
    _corrections(session, month, providers)
    _applications(session, month, providers)
    _probes(session, month, providers)
    _freshness(session, month, providers)
    _accesses(session, month, providers, consumers, resources)
    _anomalies(session, month, consumers, systems)
    _ratings(session, month, providers, consumers)
    return Scorecards(month, providers, consumers)


def _judge(clock: Clock, received: bool, answered: date | None, due: date | None) -> None:
    """Count one request on a clock: *answered* its China day of answer in the month (else
    None), *due* its last working day."""
    clock.received += received
    if answered is not None:
        clock.answered += 1
        clock.on_time += due is None or answered <= due


def _answered_day(decided_at: datetime | None, month: MonthRange) -> date | None:
    """The China day of an answer given before the month's end, else None."""
    if decided_at is None or decided_at >= month.until:
        return None
    return china_day(decided_at)


def _corrections(
    session: Session, month: MonthRange, providers: Mapping[str, ProviderCard]
) -> None:
    rows = session.execute(
        select(
            Correction.provider,
            Correction.attribute,
            Correction.filed_at,
            Correction.due_on,
            Correction.decided_at,
            Correction.status,
        ).where(
            Correction.filed_at < month.until,
            (Correction.decided_at.is_(None)) | (Correction.decided_at >= month.since),
        )
    )
    for provider, attribute, filed_at, due_on, decided_at, status in rows:
        card = providers.get(provider)
        if card is None:
            continue
        received = filed_at >= month.since
        answered = _answered_day(decided_at, month)
        _judge(card.corrections, received, answered, due_on)
        if received:
            card.disputed.add(attribute)
        still_open = status is CorrectionStatus.OPEN or answered is None
        if still_open and due_on < month.last_day:
            card.corrections.overdue_open += 1


def _applications(
    session: Session, month: MonthRange, providers: Mapping[str, ProviderCard]
) -> None:
    rows = session.execute(
        select(
            Agreement.provider_department,
            Agreement.submitted_at,
            Agreement.due_by,
            Agreement.decided_at,
        ).where(
            Agreement.origin == Origin.APPLICATION,
            Agreement.submitted_at < month.until,
            (Agreement.decided_at.is_(None)) | (Agreement.decided_at >= month.since),
        )
    )
    for provider, submitted_at, due_by, decided_at in rows:
        card = providers.get(provider)
        if card is None:
            continue
        answered = _answered_day(decided_at, month)
        _judge(card.applications, submitted_at >= month.since, answered, due_by)
        if answered is None and due_by is not None and due_by < month.last_day:
            card.applications.overdue_open += 1


def _probes(session: Session, month: MonthRange, providers: Mapping[str, ProviderCard]) -> None:
    rows = session.execute(
        select(SourceProbe.provider, SourceProbe.ok, SourceProbe.latency_ms).where(
            SourceProbe.probed_at >= month.since, SourceProbe.probed_at < month.until
        )
    )
    for provider, ok, latency in rows:
        card = providers.get(provider)
        if card is None:
            continue
        card.sources.probes += 1
        if ok:
            card.sources.probes_ok += 1
            card.sources.latencies.append(float(latency))


def _freshness(session: Session, month: MonthRange, providers: Mapping[str, ProviderCard]) -> None:
    cached = set(session.scalars(select(CacheSyncState.resource)))
    rows = session.execute(
        latest_versions().where(
            (Resource.deprecated_at.is_(None)) | (Resource.deprecated_at >= month.since),
            Resource.created_at < month.until,
        )
    ).all()
    for resource, version in rows:
        card = providers.get(resource.provider_code)
        if card is None:
            continue
        frequency = str(version.descriptor.get("update_frequency", "irregular"))
        period = FREQUENCY_PERIODS.get(frequency)
        if resource.code in cached:
            refreshes = _sync_runs(session, resource.code, month)
        else:
            refreshes = _ok_probes(session, resource.code, month)
            period = None if period is None else max(period, LIVE_MIN_PERIOD)
        card.resources += 1
        if _fresh(refreshes, period, month, max(month.since, resource.created_at)):
            card.fresh += 1
        else:
            card.stale.append(resource.code)


def _sync_runs(session: Session, resource: str, month: MonthRange) -> list[datetime]:
    finished = JobRun.finished_at
    ok = (JobRun.job_id == f"sync.{resource}") & (JobRun.outcome == RunOutcome.OK)
    before = session.scalar(
        select(finished).where(ok, finished < month.since).order_by(finished.desc()).limit(1)
    )
    within = session.scalars(
        select(finished)
        .where(ok, finished >= month.since, finished < month.until)
        .order_by(finished)
    )
    return [t for t in [before, *within] if t is not None]


def _ok_probes(session: Session, resource: str, month: MonthRange) -> list[datetime]:
    at = SourceProbe.probed_at
    ok = (SourceProbe.resource == resource) & SourceProbe.ok
    before = session.scalar(select(at).where(ok, at < month.since).order_by(at.desc()).limit(1))
    within = session.scalars(select(at).where(ok, at >= month.since, at < month.until).order_by(at))
    return [t for t in [before, *within] if t is not None]


def _fresh(
    refreshes: Sequence[datetime], period: timedelta | None, month: MonthRange, since: datetime
) -> bool:
    """No gap between successive refreshes (and the month's end) longer than the period;
    *since* is when the month began for the resource (its publication, if later)."""
    if not refreshes:
        return False
    if period is None:
        return True
    limit = period + FRESHNESS_GRACE
    points = [*refreshes, month.until]
    if refreshes[0] > since and refreshes[0] - since > limit:
        return False  # the month began without a refresh for longer than a period
    return all(b - a <= limit for a, b in itertools.pairwise(points))


def _accesses(
    session: Session,
    month: MonthRange,
    providers: Mapping[str, ProviderCard],
    consumers: dict[str, ConsumerCard],
    resources: Mapping[str, str],
) -> None:
    query = (
        select(AuditRecord.department, AuditRecord.entry)
        .where(
            AuditRecord.recorded_at >= month.since,
            AuditRecord.recorded_at < month.until,
            AuditRecord.kind.in_(ACCESS_KINDS),
        )
        .execution_options(yield_per=_STREAM)
    )
    for department, text in session.execute(query):
        attributes: Mapping[str, Mapping[str, Any]] = json.loads(text).get("attributes") or {}
        consumer = consumers.get(department)
        if consumer is not None:
            consumer.accesses += 1
            consumer.outside_purpose += any(
                a.get("reason") == "purpose_mismatch" for a in attributes.values()
            )
        for audited in attributes.values():
            provider = providers.get(resources.get(str(audited.get("resource")), ""))
            outcome = audited.get("outcome")
            if provider is None or outcome == "denied":
                continue
            provider.sources.fetches += 1
            if outcome == "unavailable" and audited.get("reason") not in _SOURCE_SIDE_OK:
                provider.sources.fetch_failures += 1


def _anomalies(
    session: Session,
    month: MonthRange,
    consumers: Mapping[str, ConsumerCard],
    systems: Mapping[str, str],
) -> None:
    stats = stats_between(session, since=month.since, until=month.until)
    for anomaly in stats.anomalies():
        consumer = consumers.get(systems.get(anomaly["system"], ""))
        if consumer is not None:
            consumer.anomalies[str(anomaly["kind"])] += 1


def _ratings(
    session: Session,
    month: MonthRange,
    providers: Mapping[str, ProviderCard],
    consumers: Mapping[str, ConsumerCard],
) -> None:
    rows: Iterable[Rating] = session.scalars(select(Rating).where(Rating.month == month.month))
    for row in rows:
        for provider in row.wrong_providers:
            if provider in providers:
                providers[provider].ratings.wrong_marks += 1
        for provider in row.asked_providers:
            if provider in providers:
                providers[provider].ratings.asked_again += 1
        if row.rater is Rater.DEPARTMENT and row.provider is not None and row.provider in providers:
            providers[row.provider].ratings.scores.append(row.score)
        elif (
            row.rater is Rater.CITIZEN
            and row.handled_by is not None
            and row.handled_by in consumers
        ):
            card = consumers[row.handled_by]
            card.ratings.scores.append(row.score)
            card.ratings.asked_again += len(row.asked_again)
            card.ratings.wrong_marks += len(row.wrong)


def trend(session: Session, months: Sequence[MonthRange]) -> list[dict[str, Any]]:
    """For the trend chart, each of *months*' city-wide accesses (a count of the log's
    searchable columns, no entry read) and the clocks of its correction requests and
    applications: a small part of :func:`scorecards`, so six months cost little more than one."""
    resources = {k: v for k, v in session.execute(select(Resource.code, Resource.provider_code))}
    found = []
    for month in months:
        providers = {code: ProviderCard(code, code) for code in set(resources.values())}
        _corrections(session, month, providers)
        _applications(session, month, providers)
        corrections, applications = Clock(), Clock()
        for card in providers.values():
            corrections.add(card.corrections)
            applications.add(card.applications)
        accesses = session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(
                AuditRecord.recorded_at >= month.since,
                AuditRecord.recorded_at < month.until,
                AuditRecord.kind.in_(ACCESS_KINDS),
            )
        )
        found.append(
            {
                "month": month.month,
                "use": {"accesses": accesses or 0},
                "corrections": corrections.as_json(),
                "applications": applications.as_json(),
            }
        )
    return found


__all__ += ["ConsumerCard", "ProviderCard", "trend"]
