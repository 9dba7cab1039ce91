"""``tongban agreements``: load agreement documents signed outside the hub, and list agreements.

Mounted on the ``tongban`` command by ``exchange.cli``. Errors are :class:`TongbanError` s with
a one-line reason, which ``tongban``'s entry point prints to stderr with a non-zero exit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

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
