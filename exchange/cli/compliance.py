"""``tongban compliance``: the data authority's compliance view from the hub's database
(docs/lifecycle.md, "The compliance view"; 《政务数据共享条例》 art. 38-41).

``tongban compliance clocks [--department CODE] [--overdue] [--json]`` lists every running
clock of the lifecycle; ``tongban compliance breaches [--month YYYY-MM] [--department CODE]
[--kind KIND] [--open] [--json]`` the breaches, each with its article and its case;
``tongban compliance report --month YYYY-MM [--csv] [--out FILE] [--json]`` the month's report
per department and article, as a table, as JSON or as the CSV to file (UTF-8 with BOM).
Read only: nothing here changes a record. ``--overdue`` and ``--open`` exit non-zero when
anything is listed, for a monitoring script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from exchange import clock
from exchange.cli.common import JsonFlag, china_time, command_hub, out, print_json
from exchange.compliance import service
from exchange.compliance.report import csv_of
from exchange.db import unit_of_work
from exchange.errors import CommandFailed
from exchange.files import write_owner_only

__all__ = ["compliance_app"]

compliance_app = typer.Typer(
    help="The data authority's compliance view (合规监督): running clocks, breaches by article, "
    "the monthly report.",
    no_args_is_help=True,
)

Month = Annotated[
    str | None,
    typer.Option("--month", metavar="YYYY-MM", help="A China calendar month (default: all)."),
]
Department = Annotated[
    str | None, typer.Option("--department", metavar="CODE", help="One department only.")
]
CLOCK_NAMES = {
    "application_reply": "共享申请答复",
    "extension_decision": "延期审批",
    "delivery": "数据交付",
    "catalogue_review": "目录审核",
    "catalogue_update": "目录更新",
    "demand_routing": "供需请求分派",
    "demand_reply": "供需请求答复",
    "correction": "校核纠错",
    "dispute": "争议处理",
    "remedy": "暂停后整改",
}
CASE_NAMES = {
    "application": "共享申请",
    "agreement": "共享协议",
    "submission": "目录提交",
    "update_duty": "目录更新责任",
    "demand": "供需请求",
    "correction": "校核请求",
    "dispute": "共享争议",
    "resource": "目录资源",
}
PARTIES = {
    "authority": "数据主管部门",
    "superior": "上级共同主管部门",
    "government": "本级人民政府",
}


def _who(view: dict[str, Any]) -> str:
    if view["department"]:
        return f"{view['department_name'] or view['department']}"
    return str(PARTIES.get(view["party"], view["party"]))


def _days(view: dict[str, Any]) -> str:
    left = view["working_days_left"]
    return f"逾期 {-left} 个工作日" if view["overdue"] else f"剩 {left} 个工作日"


def _case(view: dict[str, Any]) -> str:
    return f"{CASE_NAMES.get(view['case']['kind'], view['case']['kind'])} {view['case']['id']}"


def _read(work: Any) -> Any:
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        return work(session, clock.now())


@compliance_app.command("clocks")
def clocks(
    department: Department = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only clocks past their last day (exit 1 if any).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every running clock of the lifecycle, the earliest last day first."""
    views = _read(
        lambda s, now: service.clocks_view(s, now, department=department, overdue=overdue)
    )
    if as_json:
        print_json(views)
    else:
        for view in views:  # two lines each: readable in an 80-column terminal
            out.print(
                f"{CLOCK_NAMES.get(view['kind'], view['kind'])}  {_who(view)}"
                f"  最后一日 {china_time(view['due_on'])}  {_days(view)}",
                highlight=False,
            )
            other = view["counterpart_name"] or view["counterpart"]
            out.print(f"    {_case(view)}" + (f"  对方 {other}" if other else ""), highlight=False)
        out.print(f"共 {len(views)} 项", highlight=False)
    if overdue and views:
        raise CommandFailed(f"{len(views)} clocks past their last day")


@compliance_app.command("breaches")
def breaches(
    month: Month = None,
    department: Department = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="One kind of breach, e.g. late_reply.")
    ] = None,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only breaches not put right yet (exit 1 if any).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Breaches derived from the lifecycle's records, each with its article and its case."""
    wanted = service.parse_kind(kind)
    view = _read(
        lambda s, now: service.breach_view(
            s, now, month=month, department=department, kind=wanted, open_only=open_only
        )
    )
    if as_json:
        print_json(view)
    else:
        for b in view["breaches"]:  # two lines each: readable in an 80-column terminal
            state = "未纠正" if b["open"] else f"已于{china_time(b['ended_on'])}纠正"
            if b["due_on"] is None:
                state = "事先未发布通知"
            if b["working_days_late"]:
                state += f"，逾期 {b['working_days_late']} 个工作日"
            out.print(
                f"{china_time(b['occurred_on'])}  {b['name']}（{b['article']['title']}）"
                f"  {_who(b)}",
                highlight=False,
            )
            out.print(f"    {_case(b)}  {state}", highlight=False)
        out.print(f"共 {view['count']} 项", highlight=False)
    if open_only and view["count"]:
        raise CommandFailed(f"{view['count']} breaches not put right")


@compliance_app.command("report")
def report(
    month: Annotated[
        str, typer.Option("--month", metavar="YYYY-MM", help="The China calendar month.")
    ],
    as_csv: Annotated[
        bool, typer.Option("--csv", help="The CSV to file (UTF-8 with BOM).")
    ] = False,
    to: Annotated[
        Path | None,
        typer.Option("--out", help="Write the CSV here (readable by its owner only)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The month's compliance report per department and article (月度合规情况报表)."""
    found = _read(lambda s, now: service.monthly_report(s, month, now))
    if as_csv or to is not None:
        text = csv_of(found)
        if to is None:
            typer.echo(text, nl=False)
        else:
            write_owner_only(to, text)
            out.print(f"wrote {to}")
        return
    if as_json:
        print_json(found)
        return
    whole = "" if found["complete"] else "（本月截至目前）"
    out.print(f"合规情况月报 {found['month']}{whole}")
    articles = [a["title"] for a in found["articles"]]
    table = Table("部门", *articles, "合计", "月末未纠正", box=box.SIMPLE)
    for row in [*found["rows"], found["total"]]:
        name = (
            row["name"]
            if row["department"]
            else {"authority": "数据主管部门"}.get(row["key"], "全市")
        )
        table.add_row(
            name,
            *(str(n) for n in row["by_article"].values()),
            str(row["total"]),
            str(row["unresolved_at_end"]),
        )
    out.print(table)
    for a in found["articles"]:
        out.print(f"{a['title']}: {a['count']} 项")
