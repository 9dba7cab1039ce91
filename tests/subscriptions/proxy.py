"""A TCP proxy on 127.0.0.1 in front of a real broker, to take the broker away mid-stream.

While it is down, every open connection is closed and new ones are closed as soon as they are
accepted: to the hub this is the broker going away (and a restarted one coming back when it is
restored). :meth:`Proxy.cut_at` takes it down the moment the client sends given bytes (an event
id), before they reach the broker: the event is lost in transit, as in a crash.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Proxy:
    upstream: tuple[str, int]
    port: int = 0
    down: bool = False
    marker: bytes | None = None
    _sockets: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cut(self) -> None:
        with self._lock:
            self.down = True
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()

    def restore(self) -> None:
        with self._lock:
            self.down = False
            self.marker = None

    def cut_at(self, marker: bytes) -> None:
        self.marker = marker

    def _pump(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        seen = b""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if watch and self.marker is not None:
                    seen = (seen + data)[-(len(self.marker) + 65536) :]
                    if self.marker in seen:
                        self.cut()
                        break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.down:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets.extend([client, server])
            for source, sink, watch in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, watch), daemon=True).start()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def proxy(host: str, port: int) -> Iterator[Proxy]:
    listener = socket.create_server(("127.0.0.1", 0))
    state = Proxy((host, port), listener.getsockname()[1])
    thread = threading.Thread(target=state._serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.cut()
        listener.close()
