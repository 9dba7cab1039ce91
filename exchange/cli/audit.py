"""``tongban audit``: verify the whole log from storage; sign a checkpoint now."""

from __future__ import annotations

import sys

import typer

from exchange.audit.errors import LogAltered
from exchange.audit.verify import verify_log
from exchange.cli.common import JsonFlag, command_hub, out, print_json
from exchange.db import unit_of_work

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The audit log: verify it, sign checkpoints.", no_args_is_help=True)


@audit_app.command("verify")
def verify(as_json: JsonFlag = False) -> None:
    """Recompute the log from storage and check every checkpoint; exit 1 naming the first
    bad index if anything was altered."""
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        report = verify_log(session, hub.checkpoints.verifier())
    summary = {
        "ok": report.ok,
        "entries": report.entries,
        "nodes": report.nodes,
        "checkpoints": report.checkpoints,
        "first_bad_index": report.first_bad_index,
        "problem": report.problem,
    }
    if as_json:
        print_json(summary)
    if not report.ok:
        where = (
            "" if report.first_bad_index is None else f"first bad index {report.first_bad_index}: "
        )
        raise LogAltered(f"{where}{report.problem}")
    if not as_json:
        out.print(
            f"audit log verified: {report.entries} entries, {report.nodes} tree nodes, "
            f"{report.checkpoints} checkpoints",
            highlight=False,
        )


@audit_app.command("checkpoint")
def checkpoint(as_json: JsonFlag = False) -> None:
    """Sign a checkpoint of the log as it is now and print the signed note."""
    with command_hub() as hub, unit_of_work(hub.sessions, write=True) as session:
        signed = hub.checkpoints.sign(session)
    if as_json:
        print_json({"size": signed.size, "note": signed.note})
    else:
        sys.stdout.write(signed.note)  # verbatim: a signed note must not be re-wrapped
