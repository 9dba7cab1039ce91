"""Run the hub app under uvicorn on 127.0.0.1 with an ephemeral port (a benchmark helper).

Started by :func:`bench._common.hub_server` as a child process. Settings come from the
environment (``TONGBAN_DATABASE_URL``). The socket is bound here and its port printed as the
first line on stdout, then uvicorn serves on it until the process is terminated. No access log:
the benchmark measures the request path, not log writing.
"""

from __future__ import annotations

import socket

import uvicorn

from exchange.app import create_app
from exchange.settings import load_settings


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    print(port, flush=True)
    settings = load_settings().served_at("127.0.0.1", port)  # its identity: where it listens
    config = uvicorn.Config(
        create_app(settings), log_level="warning", access_log=False, lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
