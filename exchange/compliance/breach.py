"""A breach (违反条例的情形) as the compliance view shows it, and the small pieces every
derivation of one uses: when a clock was missed, when an agreement ended, when it was
delivered. What a breach shows is metadata: codes of departments, resources and cases, days and
counts; never a person, a value or a free text of the case."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.agreements.models import Agreement
from exchange.agreements.workdays import china_day, official_calendar
from exchange.compliance.articles import ARTICLES, BreachKind, Party
from exchange.compliance.cases import Case
from exchange.stewardship.models import AgreementSuspension, SuspensionStatus

__all__ = [
    "Breach",
    "delivered_on",
    "ended_on",
    "missed",
    "pairs",
    "terminations",
    "working_days_between",
]


@dataclass(frozen=True)
class Breach:
    """One breach: its kind, whom it is charged to, the case, and its days."""

    kind: BreachKind
    party: Party
    department: str | None  # the department charged (None: the authority)
    counterpart: str | None  # the other department concerned, if any
    case: Case
    occurred_on: date  # the first day past the clock (China time)
    due_on: date | None  # the clock's last day (None: a breach of one moment)
    ended_on: date | None  # the day the late step came (None: still missing)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        suffix = f":{self.detail['version']}" if "version" in self.detail else ""
        return f"{self.kind.value}:{self.case.id}{suffix}"

    @property
    def open(self) -> bool:
        return self.ended_on is None

    @property
    def month(self) -> str:
        return self.occurred_on.strftime("%Y-%m")

    def as_json(self, today: date, names: dict[str, str]) -> dict[str, Any]:
        article, text = ARTICLES[self.kind]
        late = None
        if self.due_on is not None:
            late = working_days_between(self.due_on, self.ended_on or today)
        return {
            "id": self.id,
            "kind": self.kind.value,
            "name": text,
            "article": article.as_json(),
            "party": self.party.value,
            "department": self.department,
            "department_name": names.get(self.department or ""),
            "counterpart": self.counterpart,
            "counterpart_name": names.get(self.counterpart or ""),
            "case": self.case.as_json(),
            "due_on": None if self.due_on is None else self.due_on.isoformat(),
            "occurred_on": self.occurred_on.isoformat(),
            "ended_on": None if self.ended_on is None else self.ended_on.isoformat(),
            "open": self.open,
            "working_days_late": late,
            "detail": self.detail,
        }


def pairs(rows: Iterable[Any]) -> dict[Any, Any]:
    """The rows of a two-column select as a mapping from the first to the second."""
    return {first: second for first, second in rows}


def working_days_between(after: date, until: date) -> int:
    """Working days in (after, until] (State Council calendar, 调休 included)."""
    working = official_calendar().is_working_day
    count, day = 0, after
    while day < until:
        day += timedelta(days=1)
        count += bool(working(day))
    return count


def missed(
    due_on: date | None, done: datetime | date | None, still_open: bool, today: date
) -> tuple[date, date | None] | None:
    """(occurred_on, ended_on) if a clock ending *due_on* was missed: its step came *done*
    after it, or it is *still_open* past it; None otherwise."""
    if due_on is None:
        return None
    if done is not None:
        day = china_day(done) if isinstance(done, datetime) else done
        return (due_on + timedelta(days=1), day) if day > due_on else None
    if still_open and today > due_on:
        return due_on + timedelta(days=1), None
    return None


def ended_on(agreement: Agreement, terminated: dict[str, datetime], now: datetime) -> date | None:
    """The day an agreement that was approved stopped being in force, if it did."""
    ends: list[date] = []
    if agreement.valid_until is not None and agreement.valid_until <= now:
        ends.append(china_day(agreement.valid_until))
    if agreement.revoked_at is not None:
        ends.append(china_day(agreement.revoked_at))
    if agreement.id in terminated:
        ends.append(china_day(terminated[agreement.id]))
    return min(ends) if ends else None


def terminations(session: Session) -> dict[str, datetime]:
    rows = session.execute(
        select(AgreementSuspension.agreement_id, func.min(AgreementSuspension.ended_at))
        .where(AgreementSuspension.status == SuspensionStatus.TERMINATED)
        .group_by(AgreementSuspension.agreement_id)
    )
    return {agreement_id: ended for agreement_id, ended in rows if ended is not None}


def delivered_on(row: Agreement) -> date | None:
    if not row.delivery or not row.delivery.get("at"):
        return None
    return china_day(datetime.fromisoformat(str(row.delivery["at"])))
