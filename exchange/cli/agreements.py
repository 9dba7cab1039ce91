"""``tongban agreements``: load agreement documents signed outside the hub, and list agreements.

Mounted on the ``tongban`` command by ``exchange.cli``. Errors are :class:`TongbanError` s with
a one-line reason, which ``tongban``'s entry point prints to stderr with a non-zero exit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from exchange.agreements.documents import load_agreement_documents
from exchange.agreements.models import Agreement, AgreementStatus
from exchange.agreements.reading import agreement_views, current_status
from exchange.cli.common import (
    JsonFlag,
    china_time,
    command_hub,
    command_session,
    out,
    print_json,
)
from exchange.db import unit_of_work
from exchange.settings import load_settings

__all__ = ["agreements_app"]

agreements_app = typer.Typer(
    help="Sharing agreements (有条件共享): load signed agreement documents, list agreements.",
    no_args_is_help=True,
)


@agreements_app.command("load")
def agreements_load(
    files: Annotated[list[Path], typer.Argument(help="Agreement documents (YAML or JSON).")],
    as_json: JsonFlag = False,
) -> None:
    """Load agreement documents as approved agreements; all of them or, on any error, none.

    Loading the same document again changes nothing; a changed document with an id already
    loaded is refused (give it a new id).
    """
    with command_hub(load_settings()) as hub, unit_of_work(hub.sessions, write=True) as session:
        outcomes = load_agreement_documents(
            session, files, datetime.now(UTC), keys=hub.keys, by="cli"
        )
    if as_json:
        print_json([o.as_dict() for o in outcomes])
        return
    for outcome in outcomes:
        state = "loaded" if outcome.created else "unchanged"
        out.print(f"{outcome.id:<28} {state:<10} {outcome.status}", highlight=False)


@agreements_app.command("list")
def agreements_list(
    status: Annotated[
        AgreementStatus | None, typer.Option(help="Only agreements with this status.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every agreement in the hub, with its status now."""
    now = datetime.now(UTC)
    with command_session(load_settings()) as session:
        rows = session.scalars(select(Agreement).order_by(Agreement.id))
        agreements = [a for a in rows if status is None or current_status(a, now) is status]
        views = agreement_views(session, agreements, now=now)
    if as_json:
        print_json(views)
        return
    table = Table("id", "status", "system", "resource", "fields", "valid until", title="agreements")
    for view in views:
        decision = view["decision"] or {}
        status_text = view["status"] + (" (overdue)" if view["overdue"] else "")
        table.add_row(
            view["id"],
            status_text,
            view["consumer"]["system"],
            view["resource"],
            ", ".join(decision.get("fields") or view["fields"]),
            china_time(decision.get("valid_until") or view["requested_validity"]["until"]),
        )
    out.print(table)


@agreements_app.command("clocks")
def agreements_clocks(as_json: JsonFlag = False) -> None:
    """Every running clock of applications in the 2025 form (《政务数据共享条例》 art. 21-22):
    replies due, materials awaited (the clock stopped), extensions awaiting the data authority,
    deliveries due; overdue ones marked. Read only: the hub's operator changes no sharing
    decision."""
    now = datetime.now(UTC)
    with command_session(load_settings()) as session:
        rows = session.scalars(
            select(Agreement).where(Agreement.use.is_not(None)).order_by(Agreement.id)
        )
        views = [c for c in (_clock(v) for v in agreement_views(session, list(rows), now=now)) if c]
    if as_json:
        print_json(views)
        return
    table = Table("id", "clock", "provider", "consumer", "due", "overdue", title="clocks")
    for clock in views:
        table.add_row(
            clock["id"],
            clock["clock"],
            clock["provider"],
            clock["consumer"],
            china_time(clock["due_by"]),
            "yes" if clock["overdue"] else "",
        )
    out.print(table)


def _clock(view: dict[str, Any]) -> dict[str, Any] | None:
    """The clock running on one application's view, or None."""
    base = {
        "id": view["id"],
        "provider": view["provider"],
        "consumer": view["consumer"]["department"],
    }
    extension = view["extension"] or {}
    if view["status"] == "pending":
        if view["materials_notice"] and not view["materials_supplied_at"]:
            return {**base, "clock": "materials", "due_by": None, "overdue": False}
        asked = extension.get("status") == "requested"
        clock = "extension" if asked else "reply"
        return {**base, "clock": clock, "due_by": view["due_by"], "overdue": view["overdue"]}
    if view["status"] == "approved" and view["delivery"] is None and view["delivery_due_by"]:
        due, late = view["delivery_due_by"], view["delivery_overdue"]
        return {**base, "clock": "delivery", "due_by": due, "overdue": late}
    return None
