"""Security headers on every answer of the hub, whatever route or error produced it.

- ``X-Content-Type-Options: nosniff``: a browser never second-guesses a content type (a JSON
  answer that carries catalogue text is never run as HTML or script).
- ``Cache-Control: no-store`` unless the route chose its own policy: answers carry personal
  data, tokens and evidence, and no browser, proxy or history may keep them. Routes that serve
  public, cacheable documents (the JWKS, the console's assets) say so themselves.
- ``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`` and
  ``X-Frame-Options: DENY`` unless the route set its own policy (the console and ``/docs`` do):
  an API answer is never a page to run, style or frame.
- ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders"]

_DEFAULTS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """ASGI middleware adding each of :data:`_DEFAULTS` that a response does not set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _DEFAULTS if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
