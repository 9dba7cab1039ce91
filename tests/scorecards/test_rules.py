"""The rules of the scorecards that need no hub: the suppression of small cells (for every
input, no count below the threshold is shown and no single hidden cell can be worked out from a
total), the months, freshness over a month's refreshes, the percentiles; and the CLI over a hub
database with a month of work in it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.errors import MalformedRequest
from exchange.scorecards.compute import (
    FRESHNESS_GRACE,
    MonthRange,
    _fresh,
    _percentile,
    month_range,
    recent_months,
)
from exchange.scorecards.public import MIN_COUNT, Cell, suppressed
from tests.exchange.test_cli import here
from tests.exchange.world import Hub
from tests.scorecards.conftest import admin, citizen, handled

NOW = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)  # 19:00 China time


@given(st.lists(st.integers(min_value=0, max_value=40), max_size=12))
def test_no_small_count_is_shown_and_no_lone_hidden_cell_can_be_worked_out(
    counts: list[int],
) -> None:
    cells = suppressed([Cell(f"c{n}", count) for n, count in enumerate(counts)])
    shown = [c for c in cells if not c.hidden]
    hidden = [c for c in cells if c.hidden]
    assert all(c.count >= MIN_COUNT for c in shown)
    assert all(c.shown is None for c in hidden)
    if len(cells) > 1:
        assert len(hidden) != 1  # a total and the others shown would give it away


def test_a_count_at_the_threshold_is_shown_and_one_below_is_not() -> None:
    cells = suppressed([Cell("a", MIN_COUNT), Cell("b", MIN_COUNT + 5), Cell("c", MIN_COUNT + 9)])
    assert [c.shown for c in cells] == [10, 15, 19]
    cells = suppressed([Cell("a", MIN_COUNT - 1), Cell("b", 15), Cell("c", 19)])
    assert [c.shown for c in cells] == [None, None, 19]  # b hidden too: the smallest other


def test_months_are_china_months_and_the_current_one_ends_now() -> None:
    current = month_range(None, NOW)
    assert current.month == "2026-12"
    assert current.since == datetime(2026, 11, 30, 16, tzinfo=UTC)  # 1 Dec 00:00 China time
    assert current.until == NOW
    assert not current.complete
    november = month_range("2026-11", NOW)
    assert november.until == current.since
    assert november.complete
    assert november.last_day.isoformat() == "2026-11-30"
    assert recent_months("2026-02", 3) == ["2025-12", "2026-01", "2026-02"]


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "26-01", "2027-01", "1899-12"])
def test_a_month_out_of_range_or_to_come_is_refused_with_its_pointer(month: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        month_range(month, NOW)
    assert [e["pointer"] for e in refused.value.errors] == ["/month"]


def _november() -> MonthRange:
    return month_range("2026-11", NOW)


def test_a_resource_is_fresh_only_if_no_gap_between_refreshes_exceeds_its_period() -> None:
    month = _november()
    daily = timedelta(days=1)
    every_day = [month.since + timedelta(days=n, hours=2) for n in range(30)]
    assert _fresh(every_day, daily, month, month.since)
    gap = [t for t in every_day if t.day != 15]  # one day without a sync
    assert not _fresh(gap, daily, month, month.since)
    late = [t + FRESHNESS_GRACE / 2 for t in every_day]  # within the grace
    assert _fresh(late, daily, month, month.since)
    assert not _fresh([], daily, month, month.since)
    assert _fresh(every_day[:1], None, month, month.since)  # irregular: refreshed once
    published = month.since + timedelta(days=7, hours=1)  # the hub began mid-month
    assert _fresh([t for t in every_day if t > published], daily, month, published)
    assert not _fresh([t for t in every_day if t > published], daily, month, month.since)


def test_percentiles_of_latencies() -> None:
    assert _percentile([], 0.5) is None
    assert _percentile([3.0], 0.95) == 3.0
    values = [float(n) for n in range(1, 101)]
    assert _percentile(values, 0.5) == pytest.approx(50.5, abs=0.6)
    assert _percentile(values, 0.95) == pytest.approx(95.0, abs=1.1)


def test_the_cli_shows_the_scorecards_writes_the_report_and_the_public_statistics(
    hub: Hub, people: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    person = people["has_property"]
    handled(hub, person)
    rated = citizen(hub, person).post(
        "/citizen/feedback", {"service_item": "EDU-RXDJ-001", "score": 5, "comment": "很方便"}
    )
    assert rated.status_code == 201, rated.text
    assert (
        admin(hub, "EDU")
        .post("/department/feedback", {"resource": "PSB-HJ-0001", "score": 4})
        .is_success
    )
    secret = hub.client.app.state.hub.settings.secret_key  # type: ignore[attr-defined]
    env = {"TONGBAN_DATABASE_URL": database_url, "TONGBAN_SECRET_KEY": secret.get_secret_value()}
    shown = here(tmp_path, "scorecards", "show", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    cards = json.loads(shown.stdout)
    edu = next(c for c in cards["consumers"] if c["department"] == "EDU")
    assert edu["ratings"]["count"] == 1
    assert edu["usage_records"] == "not_built"
    table = here(tmp_path, "scorecards", "show", env=env)
    assert table.returncode == 0, table.stderr
    assert "未建立" in table.stdout
    written = here(tmp_path, "scorecards", "csv", "--out", "report.csv", env=env)
    assert written.returncode == 0, written.stderr
    text = (tmp_path / "report.csv").read_text("utf-8")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["月份", "类别", "部门代码", "部门名称"]
    assert rows[-1][1] == "全市"
    assert person not in text
    assert "很方便" not in text
    public = here(tmp_path, "scorecards", "public", "--json", env=env)
    assert public.returncode == 0, public.stderr
    assert json.loads(public.stdout)["threshold"] == MIN_COUNT
    bad = here(tmp_path, "scorecards", "show", "--month", "2026-13", env=env)
    assert bad.returncode != 0
    assert bad.stderr.startswith("tongban: ")
    assert len(bad.stderr.strip().splitlines()) == 1
