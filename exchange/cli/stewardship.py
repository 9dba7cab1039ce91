"""``tongban stewardship``: usage records, disposal and suspension of an agreement
(《政务数据共享条例》 art. 25, 27, 29; docs/lifecycle.md, "Use, disposal and suspension"), for the
data authority at the hub's own machine.

``tongban stewardship show AGREEMENT [--json]`` prints the agreement's usage records (with the
record each amends and how long it is kept), disposal attestations and suspensions. The
authority's steps, recorded under ``--by`` (its staff id) and appended to the audit log like the
same step through the API: ``suspend AGREEMENT --reasons TEXT --remedy-by YYYY-MM-DD``,
``reinstate AGREEMENT --note TEXT``, ``terminate AGREEMENT --note TEXT``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from sqlalchemy import select

from exchange.api.stewardship import disposal_view, suspension_view, usage_view
from exchange.cli.common import JsonFlag, china_time, command_hub, out, print_json
from exchange.db import unit_of_work
from exchange.errors import CommandFailed
from exchange.stewardship.models import AgreementSuspension, DisposalAttestation, UsageRecord
from exchange.stewardship.service import AUTHORITY, Steward

__all__ = ["stewardship_app"]

stewardship_app = typer.Typer(
    help="Usage records, disposal and suspension of an agreement (使用记录、销毁、暂停共享).",
    no_args_is_help=True,
)

STATUS_NAMES = {"suspended": "暂停中", "reinstated": "已恢复", "terminated": "已终止"}
By = Annotated[str, typer.Option("--by", help="The data authority's staff id who records it.")]
Note = Annotated[str, typer.Option("--note", help="How it was remedied, or why it ends.")]


def _authority(by: str) -> Steward:
    if not by.strip():
        raise CommandFailed("--by names the data authority's staff member")
    return Steward(by.strip(), AUTHORITY, None)


def _views(agreement_id: str) -> dict[str, Any]:
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        usage = session.scalars(
            select(UsageRecord)
            .where(UsageRecord.agreement_id == agreement_id)
            .order_by(UsageRecord.filed_at, UsageRecord.id)
        ).all()
        disposals = session.scalars(
            select(DisposalAttestation).where(DisposalAttestation.agreement_id == agreement_id)
        ).all()
        suspensions = session.scalars(
            select(AgreementSuspension)
            .where(AgreementSuspension.agreement_id == agreement_id)
            .order_by(AgreementSuspension.suspended_at)
        ).all()
        return {
            "agreement": agreement_id,
            "usage_records": [usage_view(r) for r in usage],
            "disposals": [disposal_view(r) for r in disposals],
            "suspensions": [suspension_view(r) for r in suspensions],
        }


@stewardship_app.command("show")
def show(agreement_id: str, as_json: JsonFlag = False) -> None:
    """An agreement's usage records, disposal attestations and suspensions."""
    views = _views(agreement_id)
    if as_json:
        print_json(views)
        return
    out.print(f"协议 {agreement_id}")
    for r in views["usage_records"]:
        amends = f"（更正 {r['amends']}）" if r["amends"] else ""
        out.print(
            f"  使用记录 {r['id']}{amends}  {china_time(r['filed_at'])}  保存至 {r['retain_until']}"
        )
        out.print(f"    使用场景：{r['scenario']}  应用成效：{r['effect']}")
    for d in views["disposals"]:
        out.print(f"  销毁 {d['disposed_on']}  {d['what']}（{d['how']}，{d['who']}）")
    for s in views["suspensions"]:
        out.print(
            f"  {STATUS_NAMES[s['status']]}  {china_time(s['suspended_at'])}  "
            f"整改期限 {s['remedy_by']}  理由：{s['reasons']}"
        )
    if not any(views[k] for k in ("usage_records", "disposals", "suspensions")):
        out.print("  暂无使用记录、销毁证明或暂停记录")


@stewardship_app.command("suspend")
def suspend(
    agreement_id: str,
    by: By,
    reasons: Annotated[str, typer.Option("--reasons", help="The misuse, and what to remedy.")],
    remedy_by: Annotated[str, typer.Option("--remedy-by", help="Last day to remedy, YYYY-MM-DD.")],
    as_json: JsonFlag = False,
) -> None:
    """The data authority suspends an agreement in force for misuse."""
    try:
        deadline = date.fromisoformat(remedy_by)
    except ValueError as exc:
        raise CommandFailed("--remedy-by is a date, YYYY-MM-DD") from exc
    with command_hub() as hub:
        hub.stewardship.suspend(_authority(by), agreement_id, reasons, deadline, datetime.now(UTC))
    show(agreement_id, as_json)


@stewardship_app.command("reinstate")
def reinstate(agreement_id: str, by: By, note: Note, as_json: JsonFlag = False) -> None:
    """The misuse was remedied: the agreement is relied on again."""
    with command_hub() as hub:
        hub.stewardship.reinstate(_authority(by), agreement_id, note, datetime.now(UTC))
    show(agreement_id, as_json)


@stewardship_app.command("terminate")
def terminate(agreement_id: str, by: By, note: Note, as_json: JsonFlag = False) -> None:
    """The remedy deadline passed unremedied: the agreement is terminated."""
    with command_hub() as hub:
        hub.stewardship.terminate(_authority(by), agreement_id, note, datetime.now(UTC))
    show(agreement_id, as_json)
