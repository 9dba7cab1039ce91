"""Scorecards of closed months are kept (SQLite and PostgreSQL): the first request for a closed
China month computes and stores them, later requests (JSON and CSV) read what was stored; the
current month is always counted live; the ``scorecards.months`` job keeps the month just ended
once; the trend reads stored months' points."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from sqlalchemy import func, select

from exchange import clock
from exchange.db import unit_of_work
from exchange.scorecards.compute import month_range, recent_months
from exchange.scorecards.models import ScorecardMonth
from exchange.scorecards.stored import store_closed_months
from tests.exchange.world import Hub
from tests.scorecards.conftest import authority, handled


def _kept(hub: Hub) -> dict[str, ScorecardMonth]:
    with unit_of_work(hub.sessions) as session:
        rows = list(session.scalars(select(ScorecardMonth)))
        for row in rows:
            session.expunge(row)
        return {row.month: row for row in rows}


def _previous() -> str:
    return recent_months(month_range(None, clock.now()).month, 2)[0]


def test_a_closed_month_is_computed_once_and_then_read_as_stored(
    hub: Hub, people: dict[str, str]
) -> None:
    handled(hub, people["has_property"])  # this month's access: not in a closed month
    reader = authority(hub)
    previous = _previous()
    first = reader.get("/authority/scorecards", month=previous)
    assert first.status_code == 200, first.text
    assert first.json()["complete"] is True
    kept = _kept(hub)
    assert list(kept) == [previous]
    stored = json.loads(kept[previous].cards)
    assert {k: v for k, v in first.json().items() if k != "trend"} == stored
    with unit_of_work(hub.sessions, write=True) as session:  # mark the stored figures
        row = session.get(ScorecardMonth, previous)
        assert row is not None
        marked = {**stored, "city": {**stored["city"], "anomalies": 4242}}
        row.cards = json.dumps(marked, ensure_ascii=False)
    again = reader.get("/authority/scorecards", month=previous).json()
    assert again["city"]["anomalies"] == 4242  # read, not counted again
    report = reader.get("/authority/scorecards.csv", month=previous)
    rows = list(csv.reader(io.StringIO(report.text.lstrip("\ufeff"))))
    assert "4242" in rows[-1]  # the report is made from the stored figures too
    current = reader.get("/authority/scorecards").json()
    assert current["complete"] is False
    assert current["city"]["use"]["accesses"] >= 1  # counted live
    assert list(_kept(hub)) == [previous]  # the current month is never stored


def test_the_job_keeps_the_month_just_ended_once_and_the_trend_reads_it(hub: Hub) -> None:
    now = clock.now()
    assert store_closed_months(hub.sessions, now) == 1
    assert store_closed_months(hub.sessions, now) == 0
    previous = _previous()
    with unit_of_work(hub.sessions, write=True) as session:
        row = session.get(ScorecardMonth, previous)
        assert row is not None
        point = json.loads(row.trend_point)
        row.trend_point = json.dumps({**point, "use": {"accesses": 777}})
        assert session.scalar(select(func.count()).select_from(ScorecardMonth)) == 1
    trend = authority(hub).get("/authority/scorecards").json()["trend"]
    assert next(p for p in trend if p["month"] == previous)["use"]["accesses"] == 777
    assert [p["month"] for p in trend] == recent_months(month_range(None, now).month, 6)
    assert datetime.now(UTC) >= _kept(hub)[previous].computed_at
