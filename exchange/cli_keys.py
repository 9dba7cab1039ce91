"""``tongban keys``: rotate and list the hub's signing keys.

Mounted on the ``tongban`` command by ``exchange.cli`` (``app.add_typer(keys_app, name="keys")``);
it imports nothing from there, so that module can import this one. Errors are
:class:`TongbanError` s with a one-line reason, which ``tongban``'s entry point prints to stderr
with a non-zero exit. Only public key material is ever printed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Column, Table
from sqlalchemy.orm import Session

from exchange.cli_common import JsonFlag, command_session, out, print_json
from exchange.keys import HubKey, HubKeys, SigningAlgorithm
from exchange.settings import load_settings

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="The hub's signing keys (JWKS): rotate them, list them.", no_args_is_help=True
)


def _row(key: HubKey, current_kid: str | None) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "created": key.created_at.isoformat(timespec="seconds"),
        "retired": key.retired_at.isoformat(timespec="seconds") if key.retired_at else None,
        "current": key.kid == current_kid,
    }


def _rows(keys: HubKeys, session: Session) -> list[dict[str, Any]]:
    history = keys.history(session)
    published = keys.published(session)
    current = published[0].kid if published else None
    return [_row(k, current) for k in history]


@keys_app.command("rotate")
def keys_rotate(
    alg: Annotated[
        SigningAlgorithm, typer.Option("--alg", help="Algorithm of the new key.")
    ] = SigningAlgorithm.EDDSA,
    as_json: JsonFlag = False,
) -> None:
    """Make a new current signing key; the previous one stays published, older ones retire."""
    settings = load_settings()
    keys = HubKeys(settings)
    with command_session(settings) as session:
        created = keys.rotate(session, alg, datetime.now(UTC))
        rows = _rows(keys, session)
    retired = [r["kid"] for r in rows if r["retired"] is not None]
    if as_json:
        print_json({"current": _row(created, created.kid), "keys": rows})
        return
    out.print(f"new current key {created.kid} ({created.alg})", highlight=False)
    previous = [r for r in rows if not r["current"] and r["retired"] is None]
    for row in previous:
        out.print(f"  still published: {row['kid']} ({row['alg']})", highlight=False)
    out.print(f"  retired keys: {len(retired)}", highlight=False)


@keys_app.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """Every signing key, newest first: kid, alg, created, retired, current."""
    settings = load_settings()
    with command_session(settings) as session:
        rows = _rows(HubKeys(settings), session)
    if as_json:
        print_json(rows)
        return
    columns: list[Column | str] = [
        Column("kid", overflow="fold"),
        "alg",
        "created",
        "retired",
        "current",
    ]
    table = Table(*columns, title=f"{len(rows)} key(s)")
    for row in rows:
        table.add_row(
            row["kid"],
            row["alg"],
            row["created"],
            row["retired"] or "",
            "yes" if row["current"] else "",
        )
    out.print(table)
