"""``tongban keys``: rotate and list the hub's signing keys; split and join the master secret.

``split`` and ``join`` are the key custody (密钥分割) ceremony over
:mod:`exchange.security.custody`: they touch no database, print shares only where asked
(stdout or 0600 files) and the secret only to the one who joins it.

Mounted on the ``tongban`` command by ``exchange.cli``
(``app.add_typer(keys_app, name="keys")``); it imports nothing from there, so that module can
import this one. Errors are :class:`TongbanError` s with a one-line reason, which ``tongban``'s
entry point prints to stderr with a non-zero exit. Of the signing keys, only public key material
is ever printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table
from sqlalchemy.orm import Session

from exchange.cli.common import JsonFlag, china_time, command_hub, out, print_json
from exchange.db import unit_of_work
from exchange.files import owner_only_directory
from exchange.security.custody import (
    MAX_SECRET_BYTES,
    Share,
    join_shares,
    read_shares,
    split_secret,
)
from exchange.security.errors import CustodyError
from exchange.security.keys import HubKey, HubKeys, SigningAlgorithm
from exchange.settings import load_settings

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="The hub's signing keys (JWKS): rotate, list; the master secret: split, join.",
    no_args_is_help=True,
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
        SigningAlgorithm | None,
        typer.Option(
            "--alg",
            help="Algorithm of the new key (default: the crypto profile's, EdDSA under intl, "
            "SM2SM3 under gm).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Make a new current signing key; the previous one stays published, older ones retire."""
    with command_hub() as hub, unit_of_work(hub.sessions, write=True) as session:
        created = hub.keys.rotate(session, alg, datetime.now(UTC))
        rows = _rows(hub.keys, session)
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
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        rows = _rows(hub.keys, session)
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
            china_time(row["created"]),
            china_time(row["retired"]) if row["retired"] else "",
            "yes" if row["current"] else "",
        )
    out.print(table)


# -- key custody (密钥分割) -------------------------------------------------------------------


def _read_secret_file(path: Path) -> bytes:
    """The secret in ``path``; one trailing newline is taken as the file's, not the secret's."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRET_BYTES + 3)
    except OSError as exc:
        raise CustodyError(f"cannot read the secret file {path}: {exc.strerror}") from None
    secret = raw.removesuffix(b"\r\n") if raw.endswith(b"\r\n") else raw.removesuffix(b"\n")
    if not secret:
        raise CustodyError(f"the secret file {path} is empty")
    if len(secret) > MAX_SECRET_BYTES:
        raise CustodyError(f"the secret file {path} holds more than {MAX_SECRET_BYTES} bytes")
    return secret


def _configured_secret() -> bytes:
    """TONGBAN_SECRET_KEY as the hub reads it (prod mode refuses a weak one)."""
    settings = load_settings()
    if settings.mode == "dev":
        typer.echo(
            "warning: this is a development installation's generated secret, not a production"
            " one; set TONGBAN_SECRET_KEY and TONGBAN_MODE=prod",
            err=True,
        )
    return settings.secret_key.get_secret_value().encode()


def _write_private(path: Path, content: bytes) -> None:
    """Create ``path`` with mode 0600; never overwrite a file that is there."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CustodyError(f"{path} exists already; refusing to overwrite it") from None
    except OSError as exc:
        raise CustodyError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(content)


def _write_shares(directory: Path, shares: Sequence[Share]) -> list[Path]:
    """One ``share-<x>-of-<N>.txt`` per custodian, 0600, in ``directory`` (made 0700)."""
    paths = [directory / f"share-{s.x}-of-{s.total}.txt" for s in shares]
    taken = [p for p in paths if p.exists()]
    if taken:
        raise CustodyError(f"{taken[0]} exists already; write the shares to an empty directory")
    try:
        owner_only_directory(directory)
    except OSError as exc:
        raise CustodyError(f"cannot create {directory}: {exc.strerror}") from None
    made = datetime.now(UTC).date().isoformat()
    for share, path in zip(shares, paths, strict=True):
        _write_private(path, share.document(note=f" Made {made}.").encode())
    return paths


@keys_app.command("split")
def keys_split(
    shares: Annotated[int, typer.Option("--shares", help="How many shares (custodians), N.")],
    threshold: Annotated[
        int, typer.Option("--threshold", help="How many shares rebuild the secret, K.")
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", file_okay=False, help="Write share-<x>-of-<N>.txt files here."),
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file",
            dir_okay=False,
            help="Split the secret in this file instead of TONGBAN_SECRET_KEY.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Split the master secret into N shares, any K of which rebuild it (Shamir, 密钥分割)."""
    secret = _read_secret_file(secret_file) if secret_file else _configured_secret()
    made = split_secret(secret, shares=shares, threshold=threshold)
    first = made[0]
    summary: dict[str, Any] = {
        "set_id": first.set_id.hex(),
        "threshold": first.threshold,
        "total": first.total,
        "key_check_value": first.kcv.hex(),
    }
    if out_dir is not None:
        paths = _write_shares(out_dir, made)
        if as_json:
            print_json({**summary, "files": [str(p) for p in paths]})
            return
        typer.echo(
            f"split {summary['set_id']}: {first.total} shares, any {first.threshold} rebuild"
            f" the key (check value {summary['key_check_value']}); one file per custodian:"
        )
        for path in paths:
            typer.echo(f"  {path}")
        return
    if as_json:
        print_json({**summary, "shares": [s.encode() for s in made]})
        return
    for share in made:
        typer.echo(share.encode())


def _gather(share_files: Sequence[Path]) -> list[Share]:
    """The shares in the files, or on stdin (one per line) when no file is named."""
    if not share_files:
        if sys.stdin.isatty():
            typer.echo("paste the shares, one per line, then end the input (Ctrl-D)", err=True)
        return read_shares(sys.stdin.read(), where="stdin")
    gathered: list[Share] = []
    for path in share_files:
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            raise CustodyError(f"{path} is not a text file") from None
        except OSError as exc:
            raise CustodyError(f"cannot read {path}: {exc.strerror}") from None
        gathered.extend(read_shares(text, where=str(path)))
    return gathered


@keys_app.command("join")
def keys_join(
    share_files: Annotated[
        list[Path] | None,
        typer.Argument(
            dir_okay=False,
            metavar="SHARE_FILE",
            help="Share files; without any, shares are read from stdin.",
        ),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="Write the secret to this new file (0600)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rebuild the master secret from K shares; refuse wrong, damaged or mixed shares."""
    shares = _gather(share_files or [])
    secret = join_shares(shares)
    summary: dict[str, Any] = {
        "set_id": shares[0].set_id.hex(),
        "threshold": shares[0].threshold,
        "shares": sorted(s.x for s in shares),
        "key_check_value": "match",
    }
    if out_file is not None:
        _write_private(out_file, secret)
        if as_json:
            print_json({**summary, "out": str(out_file)})
        else:
            typer.echo(
                f"the key ({len(secret)} bytes) matches its check value; written to {out_file}"
            )
        return
    try:
        text = secret.decode("utf-8")
    except UnicodeDecodeError:
        raise CustodyError("the key is not text; write it to a file with --out FILE") from None
    if as_json:
        print_json({**summary, "secret": text})
        return
    sys.stdout.write(text + "\n")
