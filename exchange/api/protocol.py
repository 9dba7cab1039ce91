"""HTTP/1.1 for ``tongban serve`` with a deadline on reading a request's headers.

uvicorn's keep-alive timer only runs between requests and stops at the first byte of the next
one, so a client that opens a connection and sends nothing, or trickles a header byte every few
seconds (slowloris), holds the connection for ever. :func:`header_deadline_protocol` gives
uvicorn's h11 protocol one deadline per request: from the moment the connection opens (or the
previous response completes) the client has ``seconds`` to finish its request line and headers;
otherwise the connection is closed. Bodies are bounded by size elsewhere
(:class:`exchange.problems.RequestContext`).
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["header_deadline_protocol"]

log = logging.getLogger("tongban.http")


class _HeaderDeadlineProtocol(H11Protocol):
    header_timeout_s: float = 10.0
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are in
            self._cancel_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_header_deadline()

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
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        log.info(
            "closed a connection that did not send its headers within %gs", self.header_timeout_s
        )
        self.transport.close()


def header_deadline_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's ``http`` protocol class with a ``seconds`` deadline on each request's headers."""
    return type(
        "HeaderDeadlineProtocol", (_HeaderDeadlineProtocol,), {"header_timeout_s": float(seconds)}
    )
