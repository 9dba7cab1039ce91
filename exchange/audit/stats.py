"""Audit statistics for the console's auditor pages (审计统计): accesses per day per department,
denial rates, top purposes, and flagged anomalies (异常访问).

Days are China Standard Time days (UTC+8, no daylight saving), since that is the day an auditor
in China reads off a calendar. Everything is counted from the searchable columns of
``audit_entries`` (copied from each entry's canonical JSON when it was appended); no entry text
is parsed and no pseudonym leaves this module: the answer holds counts only. :func:`stats_range`
bounds what may be asked (at most :data:`MAX_SPAN`); :func:`stats_between` reads and counts.

The three anomaly rules, each with its thresholds in :class:`AnomalyRules`:

- **volume spike** (访问量异常): a system's accesses on a day exceed its own baseline, the
  mean plus ``sd_factor`` standard deviations of its daily counts over the ``baseline_days``
  days before (days without an access count as 0), and are at least ``min_count`` so that a
  system doing 2 a day does not flag on 5;
- **night bulk** (夜间批量访问): one system made more than ``night_threshold`` accesses
  between ``night_start`` and ``night_end`` o'clock China time on one day;
- **budget exhausted** (核验次数超限): one system was refused at least ``budget_refusals``
  times on one day because it had spent a verify or predicate budget on someone (audit outcome
  ``budget_exhausted``, :mod:`exchange.query.budget`): a system that keeps guessing at one
  person's data. Any refusal flags by default; such refusals count as denials too.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit.models import AuditRecord
from exchange.audit.reading import ACCESS_KINDS
from exchange.errors import MalformedRequest
from schemas import ProblemDetail

__all__ = [
    "DEFAULT_SPAN",
    "MAX_SPAN",
    "AnomalyRules",
    "AuditStats",
    "Row",
    "compute_stats",
    "read_rows",
    "stats_between",
    "stats_range",
]

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""China Standard Time, whose days the statistics count in (as the agreements' quotas do)."""

DEFAULT_SPAN = timedelta(days=30)
MAX_SPAN = timedelta(days=93)
TOP_PURPOSES = 10
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_STREAM_BATCH = 5000
_BUDGET_EXHAUSTED = "budget_exhausted"  # the audit outcome of exchange.query.budget's refusals
_REFUSED = frozenset({"denied", _BUDGET_EXHAUSTED})


@dataclass(frozen=True)
class AnomalyRules:
    """The thresholds of the three anomaly rules (see the module docstring)."""

    baseline_days: int = 14
    sd_factor: float = 3.0
    min_count: int = 50
    night_start: int = 0  # hour, China time, inclusive
    night_end: int = 6  # hour, China time, exclusive
    night_threshold: int = 20
    budget_refusals: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline_days": self.baseline_days,
            "sd_factor": self.sd_factor,
            "min_count": self.min_count,
            "night_hours": [self.night_start, self.night_end],
            "night_threshold": self.night_threshold,
            "budget_refusals": self.budget_refusals,
            "timezone": "UTC+08:00",
        }


@dataclass(frozen=True)
class Row:
    """The columns of one entry the statistics need."""

    recorded_at: datetime
    system: str
    department: str
    purpose: str
    outcome: str


@dataclass
class AuditStats:
    """Counts over ``[since, until)``; the baseline window before ``since`` is read too, for
    the volume rule, but counts only there."""

    since: datetime
    until: datetime
    rules: AnomalyRules
    per_day_department: Counter[tuple[date, str]]
    per_day_outcome: Counter[tuple[date, bool]]
    per_system_outcome: Counter[tuple[str, bool]]
    purposes: Counter[str]
    per_system_day: Counter[tuple[str, date]]
    night_per_system_day: Counter[tuple[str, date]]
    budget_per_system_day: Counter[tuple[str, date]] = field(default_factory=Counter)
    purpose_departments: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Uses per (purpose, department): a purpose is named by its busiest department's."""

    def days(self) -> list[date]:
        first, last = _day(self.since), _day(self.until - timedelta(microseconds=1))
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def view(self) -> dict[str, Any]:
        days = self.days()
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "days": [d.isoformat() for d in days],
            "per_day_department": [
                {"day": d.isoformat(), "department": dept, "count": n}
                for (d, dept), n in sorted(self.per_day_department.items())
            ],
            "denials": {
                "per_day": [
                    self._rate({"day": d.isoformat()}, self.per_day_outcome, d) for d in days
                ],
                "per_system": [
                    self._rate({"system": s}, self.per_system_outcome, s)
                    for s in sorted({s for s, _ in self.per_system_outcome})
                ],
            },
            "top_purposes": [
                {"purpose": p, "department": self._busiest_department(p), "count": n}
                for p, n in sorted(self.purposes.items(), key=lambda i: (-i[1], i[0]))[
                    :TOP_PURPOSES
                ]
            ],
            "anomalies": self.anomalies(),
            "rules": self.rules.as_dict(),
        }

    def _busiest_department(self, purpose: str) -> str | None:
        uses = [(n, d) for (p, d), n in self.purpose_departments.items() if p == purpose]
        return max(uses)[1] if uses else None  # the most uses; a tie, the later code

    @staticmethod
    def _rate(
        label: dict[str, Any], counts: Counter[tuple[Any, bool]], key: object
    ) -> dict[str, Any]:
        denied, other = counts[(key, True)], counts[(key, False)]
        total = denied + other
        return {**label, "total": total, "denied": denied, "rate": denied / total if total else 0.0}

    def anomalies(self) -> list[dict[str, Any]]:
        """Volume spikes, night bulk access and spent budgets, by day, kind, then system."""
        found = [*self._volume_spikes(), *self._night_bulk(), *self._budget_exhausted()]
        return sorted(found, key=lambda a: (a["day"], a["kind"], a["system"]))

    def _volume_spikes(self) -> Iterable[dict[str, Any]]:
        rules = self.rules
        systems = {s for s, d in self.per_system_day if d >= _day(self.since)}
        for system in sorted(systems):
            for day in self.days():
                count = self.per_system_day[(system, day)]
                if count < rules.min_count:
                    continue
                history = [
                    self.per_system_day[(system, day - timedelta(days=n))]
                    for n in range(1, rules.baseline_days + 1)
                ]
                mean = sum(history) / len(history)
                sd = math.sqrt(sum((h - mean) ** 2 for h in history) / len(history))
                threshold = mean + rules.sd_factor * sd
                if count > threshold:
                    yield {
                        "kind": "volume_spike",
                        "system": system,
                        "day": day.isoformat(),
                        "count": count,
                        "baseline_mean": round(mean, 2),
                        "baseline_sd": round(sd, 2),
                        "threshold": round(threshold, 2),
                    }

    def _night_bulk(self) -> Iterable[dict[str, Any]]:
        limit = self.rules.night_threshold
        for (system, day), count in sorted(self.night_per_system_day.items()):
            if count > limit:
                yield {
                    "kind": "night_bulk",
                    "system": system,
                    "day": day.isoformat(),
                    "count": count,
                    "threshold": limit,
                }

    def _budget_exhausted(self) -> Iterable[dict[str, Any]]:
        least = self.rules.budget_refusals
        for (system, day), count in sorted(self.budget_per_system_day.items()):
            if count >= least:
                yield {
                    "kind": "budget_exhausted",
                    "system": system,
                    "day": day.isoformat(),
                    "count": count,
                    "threshold": least,
                }


def compute_stats(
    rows: Iterable[Row], *, since: datetime, until: datetime, rules: AnomalyRules | None = None
) -> AuditStats:
    """Count *rows* (entries recorded in the baseline window before *since* up to *until*)."""
    rules = rules or AnomalyRules()
    stats = AuditStats(
        since, until, rules, Counter(), Counter(), Counter(), Counter(), Counter(), Counter()
    )
    for row in rows:
        local = row.recorded_at.astimezone(CHINA_TZ)
        day = local.date()
        stats.per_system_day[(row.system, day)] += 1
        if not since <= row.recorded_at < until:
            continue  # baseline only
        denied = row.outcome in _REFUSED
        if row.outcome == _BUDGET_EXHAUSTED:
            stats.budget_per_system_day[(row.system, day)] += 1
        stats.per_day_department[(day, row.department)] += 1
        stats.per_day_outcome[(day, denied)] += 1
        stats.per_system_outcome[(row.system, denied)] += 1
        stats.purposes[row.purpose] += 1
        stats.purpose_departments[(row.purpose, row.department)] += 1
        if rules.night_start <= local.hour < rules.night_end:
            stats.night_per_system_day[(row.system, day)] += 1
    return stats


def read_rows(session: Session, since: datetime, until: datetime) -> Iterable[Row]:
    """The accesses (query and verify entries; not the consents' and agreements' lifecycle
    events) recorded in ``[since, until)``, streamed in batches (only five columns)."""
    query = (
        select(
            AuditRecord.recorded_at,
            AuditRecord.system_id,
            AuditRecord.department,
            AuditRecord.purpose,
            AuditRecord.outcome,
        )
        .where(
            AuditRecord.recorded_at >= since,
            AuditRecord.recorded_at < until,
            AuditRecord.kind.in_(ACCESS_KINDS),
        )
        .execution_options(yield_per=_STREAM_BATCH)
    )
    for at, system, department, purpose, outcome in session.execute(query):  # at: aware UTC
        yield Row(at, system, department, purpose, outcome)


def stats_range(
    since: datetime | None, until: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """The range ``[since, until)`` asked for, as aware UTC instants: *until* defaults to
    *now*, *since* to :data:`DEFAULT_SPAN` before *until*; :class:`MalformedRequest` (pointing
    at ``/since`` or ``/until``) for a time without an offset or out of range, a range that
    ends before it starts, or one longer than :data:`MAX_SPAN`."""
    end = _aware(until, "until") or now
    start = _aware(since, "since") or end - DEFAULT_SPAN
    if not start < end:
        raise _bad("since", "must be before until")
    if end - start > MAX_SPAN:
        raise _bad("since", f"the range may span at most {MAX_SPAN.days} days")
    return start, end


def stats_between(
    session: Session, *, since: datetime, until: datetime, rules: AnomalyRules | None = None
) -> AuditStats:
    """The statistics of ``[since, until)``, read with the baseline window the volume rule
    needs before *since*."""
    rules = rules or AnomalyRules()
    window = since - timedelta(days=rules.baseline_days + 1)
    return compute_stats(read_rows(session, window, until), since=since, until=until, rules=rules)


def _aware(value: datetime | None, name: str) -> datetime | None:
    """A bound as an aware UTC instant within :data:`EARLIEST` and :data:`LATEST` (so that
    the baseline window and China days never leave the calendar)."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _bad(name, "give the time with its offset (Z or +08:00)")
    try:
        instant = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _bad(name, "the time is out of range") from None
    if not EARLIEST <= instant <= LATEST:
        raise _bad(name, "the time is out of range")
    return instant


def _bad(name: str, problem: str) -> MalformedRequest:
    return MalformedRequest(
        f"{name}: {problem}", errors=[ProblemDetail(pointer=f"/{name}", detail=problem)]
    )


def _day(instant: datetime) -> date:
    return instant.astimezone(CHINA_TZ).date()


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
