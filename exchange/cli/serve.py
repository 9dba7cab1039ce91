"""``tongban serve``: the hub's API and console over HTTP, on the configured database.

Before it listens, in this order: the port must be free (checked before anything is read or
written, so a second ``serve`` or ``./dev demo`` touches nothing of the running one); the
settings are read (``--data DIR``: the demo installation ``DIR/tongban.toml``); the database is
migrated and the master secret checked against it (``security/secret_check.py``); then it says
what it serves: an empty hub, a catalogue whose resources no source is bound to (a warning:
``/readyz`` answers 503), or how many are bound.

``--workers N`` (PostgreSQL only) serves the port from N worker processes (uvicorn's
supervisor, which restarts a worker that dies): the checks above run once, here, and each worker
composes its own hub from the same settings (:func:`exchange.app.worker_app`). Every worker runs
the scheduler; each scheduled time of a job runs once across them (``docs/jobs.md``), and the
audit log's head lock orders their batches into one tree.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from exchange.cli.common import demo_config, out
from exchange.hub import Hub
from exchange.settings import Settings, SettingsError, configured, load_settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            metavar="DIR",
            help="Serve the demo built in DIR (`tongban demo --data DIR`): its "
            "DIR/tongban.toml is the configuration.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes on the one port (several need PostgreSQL); each runs the "
            "scheduler, whose jobs still run once per scheduled time.",
        ),
    ] = 1,
) -> None:
    """Serve the hub (API and console) on the configured database."""
    import uvicorn

    from exchange.api.protocol import WORKER_PROTOCOL, header_deadline_protocol
    from exchange.app import SERVED_AT, create_app

    refuse_a_taken_port(host, port)
    settings = _settings(data).served_at(host, port)
    hub = Hub.from_settings(settings)
    if workers > 1 and hub.engine.dialect.name != "postgresql":
        hub.close()
        raise click.ClickException(
            f"--workers {workers} needs PostgreSQL (TONGBAN_DATABASE_URL): the embedded SQLite "
            "database serves one worker process"
        )
    hub.migrate()
    hub.check_secret()
    if settings.mode == "dev":
        _announce_dev_mode(settings)
    out.print(
        f"Tongban hub on http://{host}:{port} as {settings.public_url}"
        f"  (mode {settings.mode}; API docs at /docs)"
    )
    _announce_sources(hub)
    if workers > 1:
        hub.close()  # each worker composes its own hub from the same settings
        if data is not None:
            os.environ["TONGBAN_CONFIG"] = str(demo_config(data).resolve())
        os.environ[SERVED_AT] = f"{host}:{port}"
        out.print(f"{workers} worker processes", highlight=False)
        uvicorn.run(
            "exchange.app:worker_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            timeout_keep_alive=5,
            http=WORKER_PROTOCOL,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        )
        return
    uvicorn.run(
        create_app(hub=hub),
        host=host,
        port=port,
        log_level="info",
        timeout_keep_alive=5,
        http=header_deadline_protocol(settings.header_timeout_s),
    )


WORKER_HEALTHCHECK_S = 30
"""How long the supervisor waits for a worker's answer before it kills the worker as hung and
starts another. Uvicorn's default, 5 s, counts from the worker's spawn: a spawned worker first
imports ``tongban``'s command line again (it is the parent's ``__main__``), which on a busy
two-core machine took 7 to 12 s, so every worker was killed before it answered, and the next
one too, and the port never served."""


def refuse_a_taken_port(host: str, port: int) -> None:
    """Stop here, with a one-line reason, when something listens on ``host:port`` already."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): is another hub "
                "running there? Stop it, or choose another port with --port"
            ) from None


def _settings(data: Path | None) -> Settings:
    """The settings to serve: ``DIR/tongban.toml`` with ``--data``; otherwise the configured
    ones, and a plain word when nothing at all is configured here."""
    if data is not None:
        config = demo_config(data)
        if not config.is_file():
            raise SettingsError(
                f"{data} holds no demo installation (no {config}); "
                f"build one with `tongban demo --data {data}`"
            )
        return load_settings(config_file=config)
    try:
        return load_settings()
    except SettingsError as exc:
        if configured("mode") or configured("secret_key"):
            raise
        raise SettingsError(
            f"{exc.detail}. Nothing is configured here (no tongban.toml, no TONGBAN_MODE): "
            "to try the hub, `tongban demo` then `tongban serve`, or `TONGBAN_MODE=dev "
            "tongban serve` for an empty development hub"
        ) from None


def _announce_sources(hub: Hub) -> None:
    """One line on what the hub can answer: an empty hub, no source bound (a warning, on
    stderr), some resources unbound (a warning), or every published resource bound."""
    from exchange.api.health import source_bindings

    bindings = source_bindings(hub)
    adapters = hub.settings.adapters_file
    where = "no adapters file configured"
    if adapters is not None:
        where = f"adapters file {adapters}" + ("" if adapters.is_file() else ", absent")
    if bindings.status == "empty":
        out.print(
            "Serving an empty hub: nothing is published in the catalogue and "
            f"{len(hub.sources.bound())} sources are bound ({where}). "
            "For the demo world: `tongban demo`, then `tongban serve`.",
            highlight=False,
        )
    elif bindings.status == "none":
        _warn(
            f"no source is bound ({where}): the {bindings.published} published resources "
            "answer every query not_bound, and /readyz answers 503 until they are bound"
        )
    elif bindings.status == "partial":
        _warn(
            f"{bindings.published - bindings.bound} of the {bindings.published} published "
            f"resources are bound to no source ({where}): their attributes answer not_bound"
        )
    else:
        out.print(
            f"Sources: all {bindings.published} published resources are bound ({where})",
            highlight=False,
        )


def _warn(message: str) -> None:
    sys.stderr.write(f"tongban: WARNING: {message}\n")


def _announce_dev_mode(settings: Settings) -> None:
    """A dev hub says so loudly, on stderr, before it listens: anyone who can reach it can mint
    staff and citizen tokens from its development identity provider."""
    banner = [
        "!" * 78,
        "!! DEVELOPMENT MODE (TONGBAN_MODE=dev): NOT FOR REAL DATA",
        "!! The development identity provider (POST /dev/idp/token) is mounted: anyone who can",
        "!! reach this hub can sign in as any citizen, auditor or department admin.",
        f"!! Secret: this installation's own, generated in {settings.secret_file}.",
        "!! For real use: TONGBAN_MODE=prod, TONGBAN_SECRET_KEY, TONGBAN_PUBLIC_URL",
        "!! (docs/security.md).",
        "!" * 78,
    ]
    sys.stderr.write("\n".join(banner) + "\n")
