"""Public statistics (公开统计), like Estonia's public X-tee statistics: for a China month, how
many times each department's systems used the hub for each service item, and how many data
items each provider department supplied, with small cells suppressed.

Counted from the audit log's access entries (queries, verifies, subscription events): an access
is counted once, under the department of the system that asked and the service item it named
(``-`` when it named attributes only); a provider's figure is the number of fields of its
resources released. Nothing else is shown: no person, no system, no purpose, no time finer than
the month.

**Suppression** (小数抑制): a count below :data:`MIN_COUNT` is shown as suppressed (``null``),
never as its value, and so is a figure from which a suppressed one could be worked out by
subtraction: in a department's row, when exactly one service item is suppressed, the smallest
other one is suppressed too, and the department's total is suppressed when it is below the
threshold; among the departments' totals (whose sum is the city's total), when exactly one is
suppressed, the smallest other one is suppressed too. The same for the providers' figures.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, MutableSequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import Department, Resource, ServiceItem, ServiceItemVersion
from exchange.audit.models import AuditRecord
from exchange.audit.reading import ACCESS_KINDS
from exchange.scorecards.compute import MonthRange

__all__ = ["MIN_COUNT", "NO_SERVICE_ITEM", "Cell", "public_statistics", "suppressed"]

MIN_COUNT = 10
"""The smallest count shown; a smaller one is suppressed."""
NO_SERVICE_ITEM = "-"
"""Accesses that named attributes, not a service item."""
_STREAM = 2000


@dataclass
class Cell:
    key: str
    count: int
    hidden: bool = False

    @property
    def shown(self) -> int | None:
        return None if self.hidden else self.count


def suppressed(cells: MutableSequence[Cell], threshold: int = MIN_COUNT) -> MutableSequence[Cell]:
    """*cells* with those below *threshold* hidden, and, when that hides exactly one, the
    smallest other one hidden too (so that a total cannot give it away)."""
    for cell in cells:
        cell.hidden = cell.count < threshold
    hidden = [c for c in cells if c.hidden]
    shown = sorted((c for c in cells if not c.hidden), key=lambda c: (c.count, c.key))
    if len(hidden) == 1 and shown:
        shown[0].hidden = True
    return cells


def _counts(session: Session, month: MonthRange) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    uses: Counter[tuple[str, str]] = Counter()
    released: Counter[str] = Counter()
    providers = {k: v for k, v in session.execute(select(Resource.code, Resource.provider_code))}
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
        entry = json.loads(text)
        item = entry.get("service_item")
        uses[(department, item if isinstance(item, str) else NO_SERVICE_ITEM)] += 1
        for audited in (entry.get("attributes") or {}).values():
            if audited.get("outcome") == "released":
                provider = providers.get(str(audited.get("resource")))
                if provider is not None:
                    released[provider] += 1
    return uses, released


def _service_item_names(session: Session) -> dict[str, str]:
    rows = session.execute(
        select(ServiceItem.code, ServiceItemVersion.descriptor).join(
            ServiceItemVersion,
            (ServiceItemVersion.service_item_code == ServiceItem.code)
            & (ServiceItemVersion.version == ServiceItem.latest_version),
        )
    )
    return {code: str(descriptor.get("name", code)) for code, descriptor in rows}


def public_statistics(
    session: Session, month: MonthRange, threshold: int = MIN_COUNT
) -> dict[str, Any]:
    """The month's public statistics (module docstring)."""
    uses, released = _counts(session, month)
    names = {k: v for k, v in session.execute(select(Department.code, Department.name))}
    items = _service_item_names(session)
    rows: dict[str, list[Cell]] = {}
    for (department, item), count in uses.items():
        rows.setdefault(department, []).append(Cell(item, count))
    totals = suppressed(
        [Cell(d, sum(c.count for c in cells)) for d, cells in rows.items()], threshold
    )
    total_of = {cell.key: cell for cell in totals}
    departments = []
    for department in sorted(rows):
        cells = sorted(suppressed(rows[department], threshold), key=lambda c: c.key)
        departments.append(
            {
                "department": department,
                "name": names.get(department, department),
                "total": total_of[department].shown,
                "service_items": [
                    {
                        "code": c.key,
                        "name": items.get(c.key) if c.key != NO_SERVICE_ITEM else None,
                        "count": c.shown,
                    }
                    for c in cells
                ],
            }
        )
    providers = suppressed([Cell(d, n) for d, n in released.items()], threshold)
    return {
        "month": month.month,
        "complete": month.complete,
        "threshold": threshold,
        "total": _shown_total(sum(uses.values()), threshold),
        "departments": departments,
        "providers": [
            {"department": c.key, "name": names.get(c.key, c.key), "released": c.shown}
            for c in sorted(providers, key=lambda c: c.key)
        ],
    }


def _shown_total(total: int, threshold: int) -> int | None:
    return total if total >= threshold else None


def department_names(session: Session) -> Mapping[str, str]:
    return {k: v for k, v in session.execute(select(Department.code, Department.name))}
