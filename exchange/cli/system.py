"""``tongban system``: register client systems (办件系统) and their keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from catalogue.systems import keys_from_document, register_system, system_view
from exchange.cli.common import JsonFlag, command_session, out, print_json
from exchange.errors import CommandFailed
from exchange.security.clientauth import client_algorithms_of
from exchange.settings import load_settings

system_app = typer.Typer(help="Register client systems and their keys.", no_args_is_help=True)


@system_app.command("add")
def system_add(
    system_id: Annotated[str, typer.Option("--id", help="Client id of the system.")],
    department: Annotated[str, typer.Option(help="Owning department code.")],
    jwk: Annotated[Path, typer.Option("--jwk", help="Public JWK or JWKS file.")],
    purpose: Annotated[
        list[str] | None, typer.Option("--purpose", help="A registered purpose (repeatable).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a client system and its public key(s)."""
    try:
        keys = keys_from_document(jwk.read_bytes())
    except OSError as exc:
        raise CommandFailed(f"{jwk}: cannot read ({exc.strerror})") from None
    registration: dict[str, Any] = {"id": system_id, "department": department, "keys": keys}
    if purpose:
        registration["purposes"] = purpose
    if name:
        registration["name"] = name
    settings = load_settings()
    algorithms = client_algorithms_of(settings.crypto_profile)  # a gm hub: SM2 keys only
    with command_session(settings) as session:
        system = register_system(
            session, registration, now=datetime.now(UTC), algorithms=algorithms
        )
        view = system_view(session, system)
    if as_json:
        print_json(view)
    else:
        out.print(f"system {view['id']} ({view['department']}) keys: {', '.join(view['keys'])}")
