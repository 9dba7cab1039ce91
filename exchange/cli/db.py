"""``tongban db``: the hub's own database."""

from __future__ import annotations

import typer

from exchange.cli.common import command_hub, out, safe_url

db_app = typer.Typer(help="The hub's own database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    with command_hub() as hub:  # migrates
        out.print(f"database {safe_url(hub.settings)} is at the latest revision")
