"""HTTP/1.1 for ``tongban serve`` with a deadline on reading a request's headers.

uvicorn's keep-alive timer only runs between requests and stops at the first byte of the next
one, so a client that opens a connection and sends nothing, or trickles a header byte every few
seconds (slowloris), holds the connection for ever. :func:`header_deadline_protocol` gives
uvicorn's httptools protocol (the one it uses by default) a deadline: a request's line and
headers must be complete within ``seconds`` of the connection opening or of the request's first
byte; otherwise the connection is closed. Bodies are bounded by size elsewhere
(:class:`exchange.api.problems.RequestContext`); an idle connection between requests by uvicorn's
keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["header_deadline_protocol"]

log = logging.getLogger("tongban.http")


class _HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout_s: float = 10.0
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()  # a connection that never sends a byte is closed too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:  # the first request's clock started on connection
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._cancel_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._cancel_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            log.info(
                "closed a connection that did not send its headers within %gs",
                self.header_timeout_s,
            )
            self.transport.close()


def header_deadline_protocol(seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's ``http`` protocol class with a ``seconds`` deadline on each request's headers."""
    return type(
        "HeaderDeadlineProtocol", (_HeaderDeadlineProtocol,), {"header_timeout_s": float(seconds)}
    )


class WorkerHeaderDeadlineProtocol(_HeaderDeadlineProtocol):
    """The protocol of ``tongban serve --workers N``'s worker processes. uvicorn hands its
    configuration to each worker by pickling it, which names a class by its module and name, so
    the class cannot be made per deadline; each worker sets the deadline of the settings it
    read before it serves (:func:`exchange.app.worker_app`)."""

    header_timeout_s = 10.0


WORKER_PROTOCOL = f"{__name__}:{WorkerHeaderDeadlineProtocol.__name__}"
"""The worker protocol as uvicorn's ``http`` option takes it: an import string."""
