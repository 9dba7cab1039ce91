"""The scorecards of closed months, computed once and kept (``scorecard_months``).

Every input of a month's scorecards is dated inside the month (audit entries, probes, sync runs,
ratings by their month, correction and application clocks judged by their answer day in the
month), so once a China month has ended its figures cannot change: they are computed once —
by the ``scorecards.months`` job after the month's end, or by the first request for that month
— and read from then on, in milliseconds instead of seconds. The current month is always
computed live. A month stored by two workers at once keeps the first (the primary key).

What is kept is exactly what is answered: :meth:`Scorecards.as_json` and the month's point of
the trend (:func:`exchange.scorecards.compute.trend`); the CSV report is made from the same JSON
(:func:`exchange.scorecards.report.csv_of`). Aggregates only, no personal data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from exchange.db import unit_of_work
from exchange.scorecards.compute import MonthRange, month_range, recent_months, scorecards, trend
from exchange.scorecards.models import ScorecardMonth

__all__ = ["month_cards", "month_trend", "store_closed_months"]


def month_cards(
    sessions: sessionmaker[Session], month: MonthRange, now: datetime
) -> dict[str, Any]:
    """*month*'s scorecards as the API answers them (without the trend): read when stored,
    else computed, and stored when the month is closed."""
    if not month.complete:
        with unit_of_work(sessions) as session:
            return scorecards(session, month).as_json()
    with unit_of_work(sessions) as session:
        row = session.get(ScorecardMonth, month.month)
        if row is not None:
            found: dict[str, Any] = json.loads(row.cards)
            return found
    return _store(sessions, month, now)[0]


def month_trend(
    sessions: sessionmaker[Session], months: Sequence[MonthRange]
) -> list[dict[str, Any]]:
    """The trend's point of each of *months*: a stored month's as stored, the others counted."""
    with unit_of_work(sessions) as session:
        stored = {
            row.month: json.loads(row.trend_point)
            for row in session.scalars(
                select(ScorecardMonth).where(ScorecardMonth.month.in_([m.month for m in months]))
            )
        }
        missing = [m for m in months if m.month not in stored]
        counted = {p["month"]: p for p in trend(session, missing)} if missing else {}
    return [stored.get(m.month) or counted[m.month] for m in months]


def store_closed_months(sessions: sessionmaker[Session], now: datetime, count: int = 1) -> int:
    """The job: compute and keep the *count* closed months before now not kept yet; how many
    were stored."""
    current = month_range(None, now).month
    closed = recent_months(current, count + 1)[:-1]
    with unit_of_work(sessions) as session:
        kept = set(
            session.scalars(select(ScorecardMonth.month).where(ScorecardMonth.month.in_(closed)))
        )
    made = 0
    for name in closed:
        if name not in kept:
            made += _store(sessions, month_range(name, now), now)[1]
    return made


def _store(
    sessions: sessionmaker[Session], month: MonthRange, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Compute *month* (closed) and keep it; the cards, and whether this call stored them."""
    with unit_of_work(sessions) as session:
        cards = scorecards(session, month).as_json()
        (point,) = trend(session, [month])
    row = ScorecardMonth(
        month=month.month,
        cards=json.dumps(cards, ensure_ascii=False, separators=(",", ":")),
        trend_point=json.dumps(point, ensure_ascii=False, separators=(",", ":")),
        computed_at=now,
    )
    try:
        with unit_of_work(sessions, write=True) as session:
            session.add(row)
    except IntegrityError:
        return cards, False  # another worker kept it first: the same figures
    return cards, True
