"""The ``tongban`` command line (CONTRACT.md): every command exits 0 on success and non-zero
with a one-line reason on stderr on failure; ``--json`` where the output is data.

One module per command group: ``tongban keys`` is :mod:`exchange.cli.keys`, ``tongban serve``
:mod:`exchange.cli.serve`, and so on. Every command that touches the hub builds it once through
:func:`exchange.cli.common.command_hub` (:class:`exchange.hub.Hub`).
"""

from __future__ import annotations

import os
import sys

import click
import typer
from sqlalchemy.exc import SQLAlchemyError

from exchange.cli.agreements import agreements_app
from exchange.cli.audit import audit_app
from exchange.cli.catalogue import catalogue_app
from exchange.cli.compliance import compliance_app
from exchange.cli.crypto import crypto_app
from exchange.cli.db import db_app
from exchange.cli.demo import demo
from exchange.cli.disputes import disputes_app
from exchange.cli.federation import peers_app
from exchange.cli.jobs import jobs_app, worker_command
from exchange.cli.keys import keys_app
from exchange.cli.lifecycle import demands_app, duties_app, review_app
from exchange.cli.notice import notice_app
from exchange.cli.pension import demo_receiver_app, register_death_command
from exchange.cli.scorecards import scorecards_app
from exchange.cli.serve import serve
from exchange.cli.stewardship import stewardship_app
from exchange.cli.sync import sync_command
from exchange.cli.system import system_app
from exchange.cli.witness import witness_app
from schemas import TongbanError

__all__ = ["app", "main"]

app = typer.Typer(
    name="tongban",
    help="Tongban (通办): the data-sharing exchange hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve)
app.command("demo")(demo)
app.add_typer(demo_receiver_app, name="demo-receiver")
app.command("demo-register-death")(register_death_command)
catalogue_app.add_typer(review_app, name="review")
catalogue_app.add_typer(duties_app, name="duties")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(demands_app, name="demands")
app.add_typer(system_app, name="system")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(crypto_app, name="crypto")
app.add_typer(agreements_app, name="agreements")
app.add_typer(audit_app, name="audit")
app.add_typer(jobs_app, name="jobs")
app.add_typer(witness_app, name="witness")
app.add_typer(scorecards_app, name="scorecards")
app.add_typer(compliance_app, name="compliance")
app.add_typer(notice_app, name="notice")
app.add_typer(disputes_app, name="disputes")
app.add_typer(stewardship_app, name="stewardship")
app.add_typer(peers_app, name="peers")
app.command("worker")(worker_command)
app.command("sync")(sync_command)


def main() -> None:
    """Entry point: one-line errors on stderr, non-zero exit. Everything the command writes
    (the hub database, demo stores, keys, shares) is its user's alone: umask 077."""
    os.umask(0o077)
    try:
        app(standalone_mode=False)
    except TongbanError as exc:
        _fail(exc.explain())
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _fail("aborted")
    except SQLAlchemyError as exc:
        _fail(f"database error ({type(exc).__name__}); check TONGBAN_DATABASE_URL and the server")


def _fail(reason: str, code: int = 1) -> None:
    sys.stderr.write(f"tongban: {reason}\n")
    sys.exit(code)
