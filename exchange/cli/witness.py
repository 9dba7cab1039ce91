"""``tongban witness``: run a transparency-log witness (c2sp.org/tlog-witness) of the hub's
audit log, or of any log whose checkpoints are C2SP signed notes (docs/witness.md).

``init`` makes the witness's key (a file only its owner may read, never overwritten) and prints
its verifier key, the line a hub operator puts in the witness policy; ``key`` prints it again;
``serve`` answers add-checkpoint and the monitoring URL over HTTP. None of them reads the hub's
settings or database: a witness is run by someone other than the hub's operator.
"""

from __future__ import annotations

import errno
import socket
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from exchange.errors import CommandFailed
from exchange.witness.config import WitnessConfig
from exchange.witness.keys import create_key_file, read_key_file
from exchange.witness.state import state_url

__all__ = ["witness_app"]

witness_app = typer.Typer(
    help="A witness of transparency logs (C2SP tlog-witness): keys, serve.",
    no_args_is_help=True,
)

KeyFile = Annotated[Path, typer.Option("--key-file", help="The witness's private key file (0600).")]


class KeyAlgorithm(StrEnum):
    ED25519 = "ed25519"
    ML_DSA_44 = "ml-dsa-44"
    SM2 = "sm2"  # the gm profile's cosignature type (docs/gm.md)


@witness_app.command("init")
def witness_init(
    name: Annotated[
        str, typer.Option("--name", help="The witness's name, e.g. witness.audit.example/w1.")
    ],
    key_file: KeyFile,
    algorithm: Annotated[
        KeyAlgorithm,
        typer.Option(
            "--algorithm", help="The cosignature algorithm (sm2: SM2 with SM3, docs/gm.md)."
        ),
    ] = KeyAlgorithm.ED25519,
) -> None:
    """Make the witness's key in a new owner-only file and print its verifier key (vkey)."""
    cosigner = create_key_file(key_file, name, algorithm.value)
    sys.stdout.write(cosigner.vkey() + "\n")


@witness_app.command("key")
def witness_key(key_file: KeyFile) -> None:
    """Print the verifier key (vkey) of the witness's key file."""
    sys.stdout.write(read_key_file(key_file).vkey() + "\n")


@witness_app.command("serve")
def witness_serve(
    key_file: KeyFile,
    state: Annotated[
        str,
        typer.Option(
            "--state",
            help="Where the witness keeps the latest checkpoint of each log: an SQLite file "
            "(created on first start) or an SQLAlchemy URL (postgresql+psycopg://…).",
        ),
    ],
    logs: Annotated[
        Path | None,
        typer.Option("--logs", help="A C2SP tlog-policy file whose 'log <vkey>' lines it trusts."),
    ] = None,
    log: Annotated[
        list[str] | None,
        typer.Option("--log", help="A log's verifier key (vkey) to trust; repeatable."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8088,
    prefix: Annotated[
        str, typer.Option(help="URL prefix of the protocol's paths, e.g. /witness.")
    ] = "",
) -> None:
    """Serve the witness: POST <prefix>/add-checkpoint, GET <prefix>/<origin hash>/checkpoint."""
    import uvicorn

    from exchange.api.protocol import header_deadline_protocol
    from exchange.api.witness import create_witness_app

    config = WitnessConfig(key_file, state, logs, tuple(log or ()))
    _check_port_free(host, port)
    witness = config.open()
    try:
        app = create_witness_app(witness, prefix=prefix)
        where = make_url(state_url(state)).render_as_string(hide_password=True)
        sys.stdout.write(
            f"Tongban witness {witness.name} on http://{host}:{port}{prefix}/"
            f"  ({_count(len(witness.logs.origins), 'log')}; state {where})\n"
            f"vkey {witness.vkey()}\n"
        )
        sys.stdout.flush()
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="info",
            timeout_keep_alive=5,
            http=header_deadline_protocol(10.0),
        )
    finally:
        witness.state.close()


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _check_port_free(host: str, port: int) -> None:
    """Say plainly, before anything starts, that the port is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise CommandFailed(f"cannot listen on {host}: no such address") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandFailed(
                    f"port {port} on {host} is already in use; stop what listens there "
                    "or choose another with --port"
                ) from None
            raise CommandFailed(f"cannot listen on {host}:{port}: {exc.strerror}") from None
