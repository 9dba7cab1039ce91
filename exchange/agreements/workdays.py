"""Working days (工作日) in China: the clock a provider's 10-day answer is counted on.

A working day is Monday to Friday, except the public holidays (法定节假日), plus the weekend days
worked instead (调休上班), both from ``policies/holidays.yaml``. A year the file does not list
counts weekends only. Days are China Standard Time (UTC+8, no daylight saving).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["CHINA_TZ", "WorkingCalendar", "add_working_days", "china_day", "official_calendar"]

CHINA_TZ = timezone(timedelta(hours=8), "CST")


def china_day(instant: datetime) -> date:
    """The calendar day in China at ``instant``."""
    return instant.astimezone(CHINA_TZ).date()


@dataclass(frozen=True)
class WorkingCalendar:
    """Holidays and the weekend days worked instead; everything else is Monday to Friday."""

    holidays: frozenset[date] = frozenset()
    working_weekends: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.holidays:
            return False
        return day.weekday() < 5 or day in self.working_weekends


def add_working_days(start: date, count: int, calendar: WorkingCalendar) -> date:
    """The ``count``-th working day after ``start`` (``start`` itself is not counted)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    day, seen = start, 0
    while seen < count:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            seen += 1
    return day


@cache
def official_calendar() -> WorkingCalendar:
    """The calendar of ``policies/holidays.yaml``."""
    text = resources.files("policies").joinpath("holidays.yaml").read_text("utf-8")
    return calendar_from(yaml.safe_load(text) or {})


def calendar_from(document: dict[Any, Any]) -> WorkingCalendar:
    holidays: set[date] = set()
    working: set[date] = set()
    for year in document.values():
        for span in year.get("holidays", []):
            first, last = _day(span["from"]), _day(span["to"])
            holidays.update(first + timedelta(days=n) for n in range((last - first).days + 1))
        working.update(_day(d) for d in year.get("working_weekends", []))
    return WorkingCalendar(frozenset(holidays), frozenset(working))


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
