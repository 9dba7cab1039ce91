"""``tongban notice``: deferred notices (延迟告知) from the hub's database, for auditors
(docs/notice.md).

``tongban notice list [--status S] [--json]`` prints every deferral, per access and standing,
with who asked, who approved, the legal basis, its end and whether its checks against the
audit log pass; ``tongban notice check [--json]`` exits 1 naming each deferral in effect or
ended whose checks fail (two different department admins, a legal basis, the reason's digest,
the access or, for a standing one, its systems and the citizen's digest, its entries in the
log). Reasons are printed only with ``--json`` (an auditor's file), never in the
table.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from exchange.cli.common import JsonFlag, china_time, command_hub, out, print_json
from exchange.db import unit_of_work
from exchange.errors import CommandFailed
from exchange.notice.reading import deferral_views
from exchange.notice.standing_reading import standing_views

__all__ = ["notice_app"]

notice_app = typer.Typer(
    help="Deferred notices (延迟告知): list them, and check each against the audit log.",
    no_args_is_help=True,
)

_STATUS = {"requested": "待审批", "active": "生效中", "refused": "未批准", "ended": "已结束"}
Status = Annotated[
    str | None,
    typer.Option("--status", help="requested, active, refused or ended (default: all)."),
]


def _views(status: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The per-access deferrals and the standing ones."""
    if status is not None and status not in _STATUS:
        raise CommandFailed(f"--status must be one of {', '.join(_STATUS)}")
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        return deferral_views(session, status=status), standing_views(session, status=status)


@notice_app.command("list")
def list_deferrals(status: Status = None, as_json: JsonFlag = False) -> None:
    """Every deferral, newest first."""
    views, standing = _views(status)
    if as_json:
        print_json({"deferrals": views, "standing_deferrals": standing})
        return
    table = Table(
        "访问",
        "部门",
        "状态",
        "原因类别",
        "法律依据",
        "延迟至",
        "申请",
        "批准",
        "核验",
        box=box.SIMPLE,
    )
    for d in [*views, *standing]:
        end = china_time(d["until"]) if d["until"] else f"事件：{d['until_event']}"
        table.add_row(
            str(d["access"]) if "access" in d else _covers(d),
            d["department"],
            _STATUS[d["status"]],
            d["reason_kind"],
            d["legal_basis"],
            end,
            f"{d['requested_by']} {china_time(d['requested_at'], short=True)}",
            f"{d['decided_by'] or '-'} {china_time(d['decided_at'], short=True)}",
            "通过" if d["checks_pass"] else "未通过",
        )
    out.print(table)


def _covers(standing: dict[str, Any]) -> str:
    systems = "、".join(s["id"] for s in standing["systems"])
    return f"常设：{systems}（{len(standing['accesses'])} 次）"


@notice_app.command("check")
def check(as_json: JsonFlag = False) -> None:
    """Exit 1 if a deferral (per access or standing) in effect or ended fails its checks
    against the audit log."""
    per_access, standing = _views(None)
    views = [d for d in [*per_access, *standing] if d["status"] in ("active", "ended")]
    failing = [
        {
            "id": d["id"],
            "access": d.get("access"),
            "failed": [k for k, ok in d["checks"].items() if not ok],
        }
        for d in views
        if not d["checks_pass"]
    ]
    if as_json:
        print_json({"checked": len(views), "failing": failing})
    if failing:
        first = failing[0]
        raise CommandFailed(
            f"{len(failing)} of {len(views)} deferrals fail their checks; first {first['id']}"
            + (f" (access {first['access']})" if first["access"] is not None else "")
            + f": {', '.join(first['failed'])}"
        )
    if not as_json:
        out.print(
            f"{len(views)} deferrals in effect or ended: every one has two approvers, a "
            "legal basis and its entries in the log"
        )
