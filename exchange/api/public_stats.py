"""The public statistics (公开统计; docs/scorecards.md), without sign-in, like Estonia's public
X-tee statistics: ``GET /public/statistics?month=YYYY-MM`` as JSON, and ``GET /statistics`` as a
page (server-rendered HTML with a hand-written SVG chart, no script, the console's strict
Content-Security-Policy). Aggregate monthly counts per department and service item only, with
small cells suppressed (:mod:`exchange.scorecards.public`).

Anyone may ask, so an answer is counted at most once per :data:`RECOUNT_CURRENT` for the month
in progress and once per :data:`RECOUNT_PAST` for a past month, per hub worker: a stream of
anonymous requests costs one count, not one each."""

from __future__ import annotations

import threading
import time
from html import escape
from typing import Annotated, Any
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from exchange import clock
from exchange.api.console import CONTENT_SECURITY_POLICY
from exchange.api.deps import Hub, HubState
from exchange.api.problems import problem_responses
from exchange.db import unit_of_work
from exchange.scorecards.compute import MonthRange, month_range, recent_months
from exchange.scorecards.public import MIN_COUNT, public_statistics

__all__ = ["router"]

router = APIRouter(tags=["public statistics"])

SHOWN_MONTHS = 12
RECOUNT_CURRENT = 300.0
"""Seconds an answer about the month in progress is served before it is counted again."""
RECOUNT_PAST = 6 * 3600.0
"""Seconds an answer about a past month is served (it changes only if the log is rebuilt)."""
_answers: WeakKeyDictionary[HubState, dict[str, tuple[float, dict[str, Any]]]] = WeakKeyDictionary()
_answers_lock = threading.Lock()
Month = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{4}-[0-9]{2}$", description="A China month, YYYY-MM (default: now)"),
]


def _statistics(hub: HubState, month: str | None) -> tuple[MonthRange, dict[str, Any]]:
    asked = month_range(month, clock.now())
    keep = RECOUNT_PAST if asked.complete else RECOUNT_CURRENT
    with _answers_lock:
        kept = _answers.setdefault(hub, {}).get(asked.month)
    if kept is not None and time.monotonic() - kept[0] < keep:
        return asked, kept[1]
    with unit_of_work(hub.sessions) as session:
        answer = public_statistics(session, asked)
    with _answers_lock:
        _answers.setdefault(hub, {})[asked.month] = (time.monotonic(), answer)
    return asked, answer


@router.get(
    "/public/statistics",
    summary="Public monthly usage counts per department and service item (no sign-in)",
    responses=problem_responses(422),
)
async def get_public_statistics(hub: Hub, month: Month = None) -> dict[str, Any]:
    _, answer = await run_in_threadpool(_statistics, hub, month)
    return answer


@router.get(
    "/statistics",
    summary="The public statistics page (no sign-in)",
    response_class=HTMLResponse,
    responses=problem_responses(422),
)
async def statistics_page(hub: Hub, month: Month = None) -> HTMLResponse:
    _, answer = await run_in_threadpool(_statistics, hub, month)
    page = _page(answer, recent_months(month_range(None, clock.now()).month, SHOWN_MONTHS))
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


# -- the page ----------------------------------------------------------------------------------


def _figure(value: int | None) -> str:
    return f"&lt;{MIN_COUNT}" if value is None else f"{value:,}"


def _chart(departments: list[dict[str, Any]]) -> str:
    """Horizontal bars of each department's total, each name above its bar (so that a phone
    shows it at full size); a suppressed total has no bar."""
    rows = [(d["name"], d["total"]) for d in departments]
    if not rows:
        return ""
    top = max([v for _, v in rows if v is not None] or [1])
    width, row_h, room = 360, 42, 300
    marks = []
    for i, (name, value) in enumerate(rows):
        y = i * row_h
        length = 0 if value is None else room * value / top
        label = escape(name)
        marks.append(
            f'<text x="0" y="{y + 14}" class="tick">{label}</text>'
            f'<rect x="0" y="{y + 20}" width="{length:.1f}" height="16" fill="#1f5fa8">'
            f"<title>{label}: {_figure(value)}</title></rect>"
            f'<text x="{length + 6:.1f}" y="{y + 33}" class="tick">{_figure(value)}</text>'
        )
    height = len(rows) * row_h + 4
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="各部门本月调用次数" '
        f'font-size="13">{"".join(marks)}</svg>'
    )


def _table(departments: list[dict[str, Any]]) -> str:
    body = []
    for d in departments:
        for n, item in enumerate(d["service_items"]):
            name = item["name"] or ("按信息项调用" if item["code"] == "-" else item["code"])
            dept = (
                f'<th scope="rowgroup" rowspan="{len(d["service_items"])}">{escape(d["name"])}'
                f'<br><span class="muted">合计 {_figure(d["total"])}</span></th>'
                if n == 0
                else ""
            )
            body.append(
                f"<tr>{dept}<td>{escape(name)}</td>"
                f'<td class="number">{_figure(item["count"])}</td></tr>'
            )
    return (
        "<table><caption>各部门、各事项本月调用次数</caption>"
        '<thead><tr><th scope="col">部门</th><th scope="col">事项</th>'
        '<th scope="col" class="number">次数</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _providers(providers: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr><td>{escape(p["name"])}</td><td class="number">{_figure(p["released"])}</td></tr>'
        for p in providers
    )
    return (
        "<table><caption>各提供部门本月共享信息项次数</caption>"
        '<thead><tr><th scope="col">提供部门</th><th scope="col" class="number">信息项次数</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _page(answer: dict[str, Any], months: list[str]) -> str:
    month = answer["month"]
    options = "".join(
        f'<option value="{m}"{" selected" if m == month else ""}>{m[:4]}年{int(m[5:])}月</option>'
        for m in reversed(months)
    )
    partial = "" if answer["complete"] else "（本月截至目前）"
    departments = answer["departments"]
    empty = "<p>本月暂无调用。</p>" if not departments else ""
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>通办 · 公开统计 {escape(month)}</title>
<link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/assets/style.css">
<link rel="stylesheet" href="/console/assets/statistics.css">
</head>
<body>
<header class="top"><div class="brand">
<span class="logo" aria-hidden="true">通</span>通办 · 公开统计</div></header>
<main id="main" class="public-stats">
<h1>政务数据共享公开统计</h1>
<p>各部门通过共享平台办理事项、调用数据的月度次数{partial}。只公布汇总数字，不含任何个人信息；
少于 {MIN_COUNT} 次的数字及可据以推算出它的数字不予公布，显示为“&lt;{MIN_COUNT}”。</p>
<form method="get" action="/statistics" class="month-pick">
<label for="month">月份</label>
<select id="month" name="month">{options}</select>
<button type="submit">查看</button>
</form>
<p class="total">{month[:4]}年{int(month[5:])}月 全市调用合计：
<strong>{_figure(answer["total"])}</strong></p>
{empty}
<figure class="chart"><figcaption>各部门调用次数</figcaption>{_chart(departments)}</figure>
{_table(departments) if departments else ""}
{_providers(answer["providers"]) if answer["providers"] else ""}
<p class="muted">数据来源：共享平台审计日志（不可篡改的 Merkle 日志）。JSON：
<a href="/public/statistics?month={escape(month)}">/public/statistics?month={escape(month)}</a></p>
</main>
</body>
</html>
"""
