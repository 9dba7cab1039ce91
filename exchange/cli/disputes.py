"""``tongban disputes``: disputes between departments (《政务数据共享条例》 art. 28), for the
data authority at the hub's own machine (docs/lifecycle.md, "Disputes").

``tongban disputes list [--status open|all] [--json]`` prints every dispute with the level it is
at and that level's clock (overdue marked); ``tongban disputes show ID [--json]`` one with its
steps. The authority's steps, each recorded under ``--by`` (the authority's staff id) and
appended to the audit log like the same step through the API: ``decide ID --decision TEXT
--reasons TEXT``; ``refer ID --to superior|government --reasons TEXT --document FILE`` (the
referral document's SHA-256 is computed from FILE); ``outcome ID --outcome TEXT --document
FILE``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from exchange.cli.common import JsonFlag, china_time, command_hub, out, print_json
from exchange.db import unit_of_work
from exchange.disputes import reading
from exchange.disputes.models import DisputeLevel
from exchange.disputes.service import AUTHORITY, DisputeActor, Document
from exchange.errors import CommandFailed

__all__ = ["disputes_app"]

disputes_app = typer.Typer(
    help="Disputes between departments (数据共享争议): list them, show one, and record the "
    "data authority's decision, referral or outcome.",
    no_args_is_help=True,
)

LEVEL_NAMES = {
    "negotiation": "协商",
    "authority": "主管部门协调",
    "superior": "上级共同主管部门",
    "government": "本级人民政府",
}
STATUS_NAMES = {"open": "处理中", "settled": "协商一致", "decided": "已协调", "resolved": "已决定"}
DOCUMENT_MAX = 64 * 1024 * 1024

By = Annotated[str, typer.Option("--by", help="The data authority's staff id who records it.")]
Reasons = Annotated[str, typer.Option("--reasons", help="The reasons (说明理由).")]
DocumentFile = Annotated[
    Path,
    typer.Option(
        "--document",
        exists=True,
        dir_okay=False,
        readable=True,
        help="The document (its SHA-256 is recorded).",
    ),
]


def _authority(by: str) -> DisputeActor:
    if not by.strip():
        raise CommandFailed("--by names the data authority's staff member")
    return DisputeActor(by.strip(), AUTHORITY, None)


def _document(path: Path) -> Document:
    if path.stat().st_size > DOCUMENT_MAX:
        raise CommandFailed(f"{path.name} is larger than {DOCUMENT_MAX // (1024 * 1024)} MiB")
    return Document(path.name[:200], hashlib.sha256(path.read_bytes()).hexdigest())


def _shown(view: dict[str, Any]) -> None:
    clock = view["clock"]
    out.print(f"争议 {view['id']}  {STATUS_NAMES[view['status']]}")
    out.print(f"  事项：{view['matter']['kind']} {view['matter']['id']}")
    out.print(f"  提出方：{view['claimant']['name']}  被申请方：{view['respondent']['name']}")
    due = china_time(clock["due_on"]) + ("（已超期）" if clock["overdue"] else "")
    out.print(f"  当前层级：{LEVEL_NAMES[view['level']]}  期限：{due}")
    if view["outcome"]:
        out.print(f"  结果：{view['outcome']}")
    for step in view.get("steps", []):
        who = step["department"] or "主管部门"
        out.print(
            f"  {china_time(step['at'])}  {LEVEL_NAMES[step['level']]}  {step['action']}  {who}"
        )


@disputes_app.command("list")
def list_disputes(
    status: Annotated[str, typer.Option("--status", help="open or all.")] = "all",
    as_json: JsonFlag = False,
) -> None:
    """Every dispute, open first, with its level and that level's clock."""
    if status not in ("open", "all"):
        raise CommandFailed("--status must be open or all")
    actor = DisputeActor("cli", AUTHORITY, None)
    now = datetime.now(UTC)
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        rows = reading.disputes_of(session, actor, open_only=status == "open")
        views = reading.dispute_views(session, rows, actor, now)
    if as_json:
        print_json({"disputes": views})
        return
    if not views:
        out.print("没有争议")
    for v in views:  # one line a dispute: a table does not fit a terminal of 80 columns
        clock = v["clock"]
        due = china_time(clock["due_on"]) + ("（已超期）" if clock["overdue"] else "")
        state = f"{STATUS_NAMES[v['status']]} · {LEVEL_NAMES[v['level']]}"
        out.print(
            f"{v['id']}  {v['claimant']['name']} → {v['respondent']['name']}  "
            f"{v['matter']['kind']} {v['matter']['id']}  {state}"
            + (f" · 期限 {due}" if clock["running"] else ""),
            soft_wrap=True,
        )


@disputes_app.command("show")
def show_dispute(dispute_id: str, as_json: JsonFlag = False) -> None:
    """One dispute with its steps."""
    actor = DisputeActor("cli", AUTHORITY, None)
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        view = reading.dispute_view(
            session, reading.one_of(session, actor, dispute_id), actor, datetime.now(UTC)
        )
    if as_json:
        print_json(view)
    else:
        _shown(view)


@disputes_app.command("decide")
def decide(
    dispute_id: str,
    by: By,
    decision: Annotated[str, typer.Option("--decision", help="The authority's decision.")],
    reasons: Reasons = "",
    as_json: JsonFlag = False,
) -> None:
    """The data authority decides a dispute it has, with reasons."""
    actor = _authority(by)
    with command_hub() as hub:
        hub.disputes.decide(actor, dispute_id, decision, reasons, datetime.now(UTC))
    _done(dispute_id, as_json)


@disputes_app.command("refer")
def refer(
    dispute_id: str,
    by: By,
    to: Annotated[DisputeLevel, typer.Option("--to", help="superior, then government.")],
    document: DocumentFile,
    reasons: Reasons = "",
    as_json: JsonFlag = False,
) -> None:
    """Record the referral to the common superior, or then to the government at that level."""
    actor = _authority(by)
    with command_hub() as hub:
        hub.disputes.escalate(
            actor, dispute_id, to, reasons, datetime.now(UTC), _document(document)
        )
    _done(dispute_id, as_json)


@disputes_app.command("outcome")
def outcome(
    dispute_id: str,
    by: By,
    text: Annotated[str, typer.Option("--outcome", help="The outcome reached.")],
    document: DocumentFile,
    as_json: JsonFlag = False,
) -> None:
    """Record the outcome the common superior or the government reached."""
    actor = _authority(by)
    with command_hub() as hub:
        hub.disputes.record_outcome(actor, dispute_id, text, _document(document), datetime.now(UTC))
    _done(dispute_id, as_json)


def _done(dispute_id: str, as_json: bool) -> None:
    show_dispute(dispute_id, as_json)
