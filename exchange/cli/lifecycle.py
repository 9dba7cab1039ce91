"""``tongban catalogue review``, ``tongban catalogue duties`` and ``tongban demands``: the
lifecycle's queues and clocks from the hub's database (docs/lifecycle.md).

Read-only on purpose: reviews, extensions and routing are the data authority's decisions and
submissions the departments' acts, made by signed-in staff over the API or the console; the
hub operator who runs the CLI makes none of them (separation of duties). ``--overdue`` lists
only what is past its clock and exits non-zero when anything is, for a monitoring script.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from exchange.cli.common import JsonFlag, china_time, command_hub, out, print_json
from exchange.db import unit_of_work
from exchange.errors import CommandFailed
from exchange.lifecycle import reading

__all__ = ["demands_app", "duties_app", "review_app"]

review_app = typer.Typer(
    help="Catalogue entries submitted for the data authority's review, with their clocks.",
    no_args_is_help=True,
)
duties_app = typer.Typer(
    help="Update duties of catalogue entries, with their clocks.", no_args_is_help=True
)
demands_app = typer.Typer(
    help="Supply-demand requests (供需对接), with their clocks.", no_args_is_help=True
)

Overdue = Annotated[
    bool, typer.Option("--overdue", help="Only what is past its clock (exit non-zero if any).")
]
_SUBMISSION = {
    "draft": "草稿",
    "submitted": "待审核",
    "published": "已发布",
    "returned": "已退回",
    "withdrawn": "已撤回",
}
_DUTY = {"open": "待更新", "fulfilled": "已更新"}
_DEMAND = {"filed": "待分派", "routed": "已分派", "connected": "已对接", "refused": "不予提供"}


def _status(value: str | None, known: dict[str, str]) -> str | None:
    if value is not None and value not in known:
        raise CommandFailed(f"--status must be one of {', '.join(known)}")
    return value


def _rows(
    read: Callable[..., list[dict[str, Any]]], status: str | None, overdue: bool
) -> list[dict[str, Any]]:
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        return read(session, None, datetime.now(UTC), status=status, overdue=overdue)


def _clock(view: dict[str, Any]) -> str:
    if view["due_on"] is None:
        return "-"
    due = china_time(view["due_on"])
    if view["working_days_left"] is None:
        return due
    left = view["working_days_left"]
    return f"{due}（逾期 {-left} 个工作日）" if view["overdue"] else f"{due}（剩 {left} 个工作日）"


def _finish(rows: list[dict[str, Any]], overdue: bool, what: str) -> None:
    if overdue and rows:
        raise CommandFailed(f"{len(rows)} {what} past the clock")


@review_app.command("list")
def review_list(
    status: Annotated[str | None, typer.Option(help="draft, submitted, published, …")] = None,
    overdue: Overdue = False,
    as_json: JsonFlag = False,
) -> None:
    """Submissions, newest first, with the review clock."""
    rows = _rows(reading.submissions, _status(status, _SUBMISSION), overdue)
    if as_json:
        print_json({"submissions": rows})
    else:
        table = Table("编号", "目录", "部门", "方式", "状态", "审核时限", title="目录审核")
        for row in rows:
            table.add_row(
                row["id"],
                row["resource"],
                row["provider"],
                "初始化导入" if row["route"] == "bootstrap" else "审核",
                _SUBMISSION[row["status"]],
                _clock(row["review"]),
            )
        out.print(table)
    _finish(rows, overdue, "submission(s) under review")


@duties_app.command("list")
def duties_list(
    status: Annotated[str | None, typer.Option(help="open or fulfilled.")] = None,
    overdue: Overdue = False,
    as_json: JsonFlag = False,
) -> None:
    """Update duties, earliest clock first."""
    rows = _rows(reading.duties, _status(status, _DUTY), overdue)
    if as_json:
        print_json({"duties": rows})
    else:
        table = Table("编号", "目录", "部门", "状态", "延期", "更新时限", title="目录更新责任")
        for row in rows:
            table.add_row(
                row["id"],
                row["resource"],
                row["provider"],
                _DUTY[row["status"]],
                row["extension"]["status"],
                _clock(row["clock"]),
            )
        out.print(table)
    _finish(rows, overdue, "update duty(ies)")


@demands_app.command("list")
def demands_list(
    status: Annotated[str | None, typer.Option(help="filed, routed, connected, refused.")] = None,
    overdue: Overdue = False,
    as_json: JsonFlag = False,
) -> None:
    """Supply-demand requests, newest first, with the routing and reply clocks."""
    rows = _rows(reading.demands, _status(status, _DEMAND), overdue)
    if as_json:
        print_json({"demands": rows})
    else:
        table = Table("编号", "需求", "需求部门", "提供部门", "状态", "时限", title="供需对接")
        for row in rows:
            clock = row["routing"] if row["status"] == "filed" else row["reply"]
            table.add_row(
                row["id"],
                row["title"],
                row["requester"],
                row["provider"] or "-",
                _DEMAND[row["status"]],
                _clock(clock),
            )
        out.print(table)
    _finish(rows, overdue, "request(s)")
