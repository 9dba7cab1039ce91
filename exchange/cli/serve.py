"""``tongban serve``: the hub's API and console over HTTP, on the configured database."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from exchange.cli.common import out
from exchange.hub import Hub
from exchange.settings import Settings, load_settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the hub (API and console) on the configured database."""
    import uvicorn

    from exchange.api.protocol import header_deadline_protocol
    from exchange.app import create_app

    settings = load_settings().served_at(host, port)
    hub = Hub.from_settings(settings)
    hub.migrate()
    if settings.mode == "dev":
        _announce_dev_mode(settings)
    out.print(
        f"Tongban hub on http://{host}:{port} as {settings.public_url}"
        f"  (mode {settings.mode}; API docs at /docs)"
    )
    uvicorn.run(
        create_app(hub=hub),
        host=host,
        port=port,
        log_level="info",
        timeout_keep_alive=5,
        http=header_deadline_protocol(settings.header_timeout_s),
    )


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
