"""The lifecycle's clocks, counted in working days (State Council calendar, 调休 included,
China time) as every clock of the hub is (:mod:`exchange.agreements.workdays`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from exchange.agreements.workdays import add_working_days, china_day, official_calendar
from exchange.settings import Settings

__all__ = ["Clocks", "clock_view", "due_after"]


@dataclass(frozen=True)
class Clocks:
    """The lengths of the lifecycle's clocks, in working days (settings)."""

    review: int = 2
    update: int = 10
    update_extension: int = 5
    demand_route: int = 5
    demand_reply: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> Clocks:
        return cls(
            review=settings.catalogue_review_working_days,
            update=settings.catalogue_update_working_days,
            update_extension=settings.catalogue_update_extension_working_days,
            demand_route=settings.demand_route_working_days,
            demand_reply=settings.demand_reply_working_days,
        )


def due_after(start: date | datetime, working_days: int) -> date:
    """The last working day of a clock of *working_days* started on *start* (its day not
    counted)."""
    day = china_day(start) if isinstance(start, datetime) else start
    return add_working_days(day, working_days, official_calendar())


def clock_view(due_on: date | None, now: datetime, *, stopped: bool = False) -> dict[str, Any]:
    """A clock as the console shows it: its last day, the working days left (negative: the
    working days it is overdue by) and whether it is overdue; a stopped clock is neither."""
    if due_on is None:
        return {"due_on": None, "working_days_left": None, "overdue": False}
    today = china_day(now)
    calendar = official_calendar()
    if today <= due_on:
        left = _working_days(today, due_on, calendar.is_working_day)
    else:
        left = -_working_days(due_on, today, calendar.is_working_day)
    return {
        "due_on": due_on.isoformat(),
        "working_days_left": None if stopped else left,
        "overdue": not stopped and today > due_on,
    }


def _working_days(after: date, until: date, working: Any) -> int:
    """Working days in (after, until]."""
    count, day = 0, after
    while day < until:
        day += timedelta(days=1)
        count += bool(working(day))
    return count
