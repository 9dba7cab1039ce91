"""``tongban scorecards``: the data authority's monthly scorecards (共享评价) from the hub's
database (docs/scorecards.md).

``tongban scorecards show [--month YYYY-MM] [--json]`` prints the month's figures per provider
and consumer department and city-wide; ``tongban scorecards csv [--month] [--out FILE]`` writes
the report to file (UTF-8 with BOM, Chinese headers); ``tongban scorecards public [--month]
[--json]`` prints the public statistics with small cells suppressed, as ``/statistics`` shows
them. Nothing here reads personal data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from exchange import clock
from exchange.cli.common import JsonFlag, command_hub, out, print_json
from exchange.db import unit_of_work
from exchange.files import write_owner_only
from exchange.scorecards.compute import month_range, scorecards
from exchange.scorecards.public import public_statistics
from exchange.scorecards.report import csv_report

__all__ = ["scorecards_app"]

scorecards_app = typer.Typer(
    help="The data authority's monthly scorecards (共享评价): show, CSV report, public statistics.",
    no_args_is_help=True,
)

Month = Annotated[
    str | None,
    typer.Option("--month", metavar="YYYY-MM", help="A China calendar month (default: this one)."),
]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _n(value: Any) -> str:
    return "-" if value is None else str(value)


@scorecards_app.command("show")
def show(month: Month = None, as_json: JsonFlag = False) -> None:
    """The month's scorecards per provider and consumer department and city-wide."""
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        view = scorecards(session, month_range(month, clock.now())).as_json()
    if as_json:
        print_json(view)
        return
    out.print(f"共享评价 {view['month']}" + ("" if view["complete"] else "（本月截至目前）"))
    providers = Table(
        "提供部门",
        "纠错按时",
        "申请按时",
        "可用率",
        "响应中位数",
        "按周期更新",
        "异议项",
        "质量评分",
        box=box.SIMPLE,
    )
    for p in view["providers"]:
        providers.add_row(
            p["department"],
            f"{p['corrections']['on_time']}/{p['corrections']['answered']}",
            f"{p['applications']['on_time']}/{p['applications']['answered']}",
            _pct(p["sources"]["availability"]),
            _n(p["sources"]["latency_p50_ms"]),
            f"{p['freshness']['fresh']}/{p['freshness']['resources']}",
            str(len(p["disputed_attributes"])),
            _n(p["ratings"]["mean_score"]),
        )
    out.print(providers)
    consumers = Table(
        "使用部门", "调用", "按用途使用率", "异常访问", "使用记录", "群众评分", box=box.SIMPLE
    )
    for c in view["consumers"]:
        consumers.add_row(
            c["department"],
            str(c["use"]["accesses"]),
            _pct(c["use"]["within_purpose"]),
            str(c["anomalies"]["total"]),
            "未建立",
            _n(c["ratings"]["mean_score"]),
        )
    out.print(consumers)
    city = view["city"]
    out.print(
        f"全市: 调用 {city['use']['accesses']}, 按用途 {_pct(city['use']['within_purpose'])}, "
        f"纠错按时 {_pct(city['corrections']['on_time_rate'])}, "
        f"申请按时 {_pct(city['applications']['on_time_rate'])}, "
        f"可用率 {_pct(city['sources']['availability'])}"
    )


@scorecards_app.command("csv")
def csv(
    month: Month = None,
    to: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report here (readable by its owner only)."),
    ] = None,
) -> None:
    """The month's scorecards as a CSV report to file (月度共享评价报表)."""
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        text = csv_report(scorecards(session, month_range(month, clock.now())))
    if to is None:
        typer.echo(text, nl=False)
        return
    write_owner_only(to, text)
    out.print(f"wrote {to}")


@scorecards_app.command("public")
def public(month: Month = None, as_json: JsonFlag = False) -> None:
    """The public statistics (counts per department and service item, small cells suppressed)."""
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        view = public_statistics(session, month_range(month, clock.now()))
    if as_json:
        print_json(view)
        return
    hidden = f"<{view['threshold']}"
    table = Table("部门", "事项", "次数", box=box.SIMPLE)
    for d in view["departments"]:
        for item in d["service_items"]:
            name = item["name"] or ("按信息项调用" if item["code"] == "-" else item["code"])
            count = hidden if item["count"] is None else str(item["count"])
            table.add_row(d["name"], name, count)
        table.add_row(d["name"], "合计", hidden if d["total"] is None else str(d["total"]))
    out.print(f"公开统计 {view['month']}")
    out.print(table)
    out.print(f"全市合计: {hidden if view['total'] is None else view['total']}")
