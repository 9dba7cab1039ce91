"""``tongban audit``: verify the whole log from storage; sign a checkpoint now."""

from __future__ import annotations

import sys
from datetime import timedelta

import typer

from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.verify import verify_log
from exchange.cli.common import JsonFlag, command_session, out, print_json
from exchange.settings import Settings, load_settings
from schemas import TongbanError

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The audit log: verify it, sign checkpoints.", no_args_is_help=True)


class LogAltered(TongbanError):
    code = "log_altered"
    title = "The audit log does not verify"


def _signer(settings: Settings) -> CheckpointSigner:
    return CheckpointSigner(
        settings.secret_key.get_secret_value(),
        settings.audit_origin,
        interval=timedelta(seconds=settings.checkpoint_interval_s),
    )


@audit_app.command("verify")
def verify(as_json: JsonFlag = False) -> None:
    """Recompute the log from storage and check every checkpoint; exit 1 naming the first
    bad index if anything was altered."""
    settings = load_settings()
    with command_session(settings, write=False) as session:
        report = verify_log(session, _signer(settings).verifier())
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
    settings = load_settings()
    with command_session(settings) as session:
        signed = _signer(settings).sign(session)
    if as_json:
        print_json({"size": signed.size, "note": signed.note})
    else:
        sys.stdout.write(signed.note)  # verbatim: a signed note must not be re-wrapped
