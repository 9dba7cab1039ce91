"""What an attacker has: raw HTTP requests whose target is sent exactly as written (no client
library normalising ``//``, ``..`` or ``%2F``), and a clock."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["RawAnswer", "raw_request"]


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(
    base: str, target: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> RawAnswer:
    """``method target`` sent to the hub at ``base`` byte for byte as given."""
    parts = urlsplit(base)
    assert parts.hostname is not None
    assert parts.port is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": parts.netloc, **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return RawAnswer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()
