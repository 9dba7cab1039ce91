"""The compliance view as the API, the console and the CLI answer it: the open clocks, the
breaches (filtered by month, department, kind), the trend of the last twelve months, and the
monthly report a government office files (per department and per article).

Read only, and for the data authority alone (the callers check the role). A month is a China
calendar month (:func:`exchange.scorecards.compute.month_range`: malformed or not begun yet is
``malformed_request`` with pointer ``/month``); a department is one of the registry's
(``department_not_found`` otherwise).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.errors import DepartmentNotFound
from catalogue.models import Department
from exchange.agreements.workdays import china_day
from exchange.compliance.articles import ARTICLES, BreachKind, Party
from exchange.compliance.breaches import Breach, derive_breaches, pairs
from exchange.compliance.clocks import open_clocks
from exchange.errors import MalformedRequest
from exchange.scorecards.compute import MonthRange, month_range, recent_months
from schemas import ProblemDetail

__all__ = [
    "TREND_MONTHS",
    "breach_view",
    "clocks_view",
    "kinds",
    "monthly_report",
    "overview",
    "parse_kind",
]

TREND_MONTHS = 12
AUTHORITY_KEY = "authority"
"""The report's row of the data authority's own clocks (art. 41)."""


def kinds() -> list[dict[str, Any]]:
    """Every kind of breach, in the report's order, with its article and its name."""
    return [
        {"kind": kind.value, "name": text, "article": article.as_json()}
        for kind, (article, text) in ARTICLES.items()
    ]


def _names(session: Session) -> dict[str, str]:
    return pairs(session.execute(select(Department.code, Department.name)))


def _checked(names: dict[str, str], department: str | None) -> None:
    if department is not None and department not in names:
        raise DepartmentNotFound(f"no department with code {department!r}")


def parse_kind(value: str | None) -> BreachKind | None:
    if value is None:
        return None
    try:
        return BreachKind(value)
    except ValueError:
        allowed = ", ".join(k.value for k in BreachKind)
        raise MalformedRequest(
            f"kind: not a kind of breach ({allowed})",
            errors=[ProblemDetail(pointer="/kind", detail=f"one of {allowed}")],
        ) from None


def _key(party: Party, department: str | None) -> str:
    return department if party is Party.DEPARTMENT and department else party.value


def clocks_view(
    session: Session, now: datetime, *, department: str | None = None, overdue: bool = False
) -> list[dict[str, Any]]:
    names = _names(session)
    _checked(names, department)
    views = [
        c.as_json(now, names)
        for c in open_clocks(session, now)
        if department is None or c.department == department
    ]
    return [v for v in views if v["overdue"]] if overdue else views


def _filtered(
    breaches: list[Breach],
    *,
    month: str | None = None,
    department: str | None = None,
    kind: BreachKind | None = None,
    open_only: bool = False,
) -> list[Breach]:
    return [
        b
        for b in breaches
        if (month is None or b.month == month)
        and (department is None or b.department == department)
        and (kind is None or b.kind is kind)
        and (not open_only or b.open)
    ]


def breach_view(
    session: Session,
    now: datetime,
    *,
    month: str | None = None,
    department: str | None = None,
    kind: BreachKind | None = None,
    open_only: bool = False,
) -> dict[str, Any]:
    """The breaches asked for, the most recent first, with the month they are of if one."""
    names = _names(session)
    _checked(names, department)
    asked = month_range(month, now).month if month is not None else None
    found = _filtered(
        derive_breaches(session, now),
        month=asked,
        department=department,
        kind=kind,
        open_only=open_only,
    )
    today = china_day(now)
    return {
        "month": asked,
        "department": department,
        "kind": None if kind is None else kind.value,
        "count": len(found),
        "breaches": [b.as_json(today, names) for b in found],
    }


def _trend(breaches: list[Breach], now: datetime) -> dict[str, Any]:
    months = recent_months(month_range(None, now).month, TREND_MONTHS)
    by_kind = {m: Counter[str]() for m in months}
    by_department = {m: Counter[str]() for m in months}
    for b in breaches:
        if b.month in by_kind:
            by_kind[b.month][b.kind.value] += 1
            by_department[b.month][_key(b.party, b.department)] += 1
    return {
        "months": months,
        "by_kind": [
            {"month": m, "counts": dict(by_kind[m]), "total": sum(by_kind[m].values())}
            for m in months
        ],
        "by_department": [{"month": m, "counts": dict(by_department[m])} for m in months],
    }


def overview(session: Session, now: datetime, *, department: str | None = None) -> dict[str, Any]:
    """The authority's page: running clocks, breaches open now, this month's per department,
    and the twelve months' trend (per kind and per department)."""
    names = _names(session)
    _checked(names, department)
    clocks = [
        c.as_json(now, names)
        for c in open_clocks(session, now)
        if department is None or c.department == department
    ]
    breaches = _filtered(derive_breaches(session, now), department=department)
    this_month = month_range(None, now).month
    today = china_day(now)
    summary: dict[str, dict[str, Any]] = {}

    def row(key: str) -> dict[str, Any]:
        if key not in summary:
            summary[key] = {
                "key": key,
                "department": key if key in names else None,
                "name": names.get(key),
                "clocks": 0,
                "overdue_clocks": 0,
                "open_breaches": 0,
                "breaches_this_month": 0,
            }
        return summary[key]

    for clock in clocks:
        entry = row(clock["department"] or clock["party"])
        entry["clocks"] += 1
        entry["overdue_clocks"] += bool(clock["overdue"])
    for b in breaches:
        entry = row(_key(b.party, b.department))
        entry["open_breaches"] += b.open
        entry["breaches_this_month"] += b.month == this_month
    return {
        "now": now.isoformat(),
        "today": today.isoformat(),
        "month": this_month,
        "department": department,
        "kinds": kinds(),
        "clocks": clocks,
        "departments": sorted(summary.values(), key=lambda r: (r["department"] is None, r["key"])),
        "registry": [{"code": code, "name": names[code]} for code in sorted(names)],
        "open_breaches": [b.as_json(today, names) for b in breaches if b.open],
        "trend": _trend(breaches, now),
    }


def monthly_report(session: Session, month: str | None, now: datetime) -> dict[str, Any]:
    """The month's report: per department (every department of the registry, and the data
    authority) and per article, the breaches that occurred in the month, how many of them were
    still not put right at its end, and the list of them."""
    asked: MonthRange = month_range(month, now)
    names = _names(session)
    found = _filtered(derive_breaches(session, now), month=asked.month)
    keys = [*sorted(names), AUTHORITY_KEY]
    rows = {key: _empty_row(key, names) for key in keys}
    total = _empty_row("total", names)
    for b in found:
        key = _key(b.party, b.department)
        if key not in rows:  # the common superior or the government: not charged to a row
            continue
        unresolved = b.ended_on is None or b.ended_on > asked.last_day
        for entry in (rows[key], total):
            entry["by_kind"][b.kind.value] += 1
            entry["by_article"][str(ARTICLES[b.kind][0].number)] += 1
            entry["total"] += 1
            entry["unresolved_at_end"] += unresolved
    today = china_day(now)
    return {
        "month": asked.month,
        "complete": asked.complete,
        "since": asked.since.isoformat(),
        "until": asked.until.isoformat(),
        "made_at": now.isoformat(),
        "kinds": kinds(),
        "articles": _articles(total),
        "rows": list(rows.values()),
        "total": total,
        "breaches": [b.as_json(today, names) for b in found],
    }


def _empty_row(key: str, names: dict[str, str]) -> dict[str, Any]:
    return {
        "key": key,
        "department": key if key in names else None,
        "name": names.get(key),
        "by_kind": {kind.value: 0 for kind in ARTICLES},
        "by_article": {
            str(a.number): 0
            for a in sorted({a for a, _ in ARTICLES.values()}, key=lambda a: a.number)
        },
        "total": 0,
        "unresolved_at_end": 0,
    }


def _articles(total: dict[str, Any]) -> list[dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for kind, (article, _) in ARTICLES.items():
        entry = seen.setdefault(article.number, {**article.as_json(), "kinds": [], "count": 0})
        entry["kinds"].append(kind.value)
        entry["count"] += total["by_kind"][kind.value]
    return list(seen.values())
