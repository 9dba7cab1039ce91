"""Webhooks: which URLs the hub will call, how a payload is signed, and one delivery attempt.

**Which URLs** (:class:`WebhookPolicy`), checked when a subscription is made and again, on the
addresses the name resolves to at that moment, before every attempt (a name that later resolves
to an inside address — DNS rebinding — is refused then):

1. an absolute ``https`` URL (``http`` only in dev mode), with a host, no user info, no
   fragment;
2. not the hub itself: the host and port of ``TONGBAN_PUBLIC_URL``, or an address that host
   resolves to, on that port;
3. every address the host resolves to is a public unicast address, or lies in a network the
   deployment allowed (``TONGBAN_WEBHOOK_ALLOWED_CIDRS``; dev mode allows loopback by default):
   loopback, link-local, private, shared, multicast, reserved and unspecified addresses are
   refused otherwise.

An attempt connects to the address that was checked (the name is not resolved again by the HTTP
client), sending the host name as ``Host`` and as TLS server name, so the certificate is still
verified against the name.

**Signing**: the Standard Webhooks scheme (https://www.standardwebhooks.com): headers
``webhook-id`` (the event id, stable across retries), ``webhook-timestamp`` (Unix seconds of the
attempt) and ``webhook-signature`` = ``v1,`` + base64 HMAC-SHA256 over
``<id>.<timestamp>.<body>`` with the subscription's secret (``whsec_`` + base64 of 32 random
bytes, shown once when the subscription is made).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from exchange.subscriptions.errors import WebhookUrlRefused

__all__ = [
    "AttemptResult",
    "WebhookPolicy",
    "new_secret",
    "post_event",
    "signature_headers",
    "webhook_client",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
TIMEOUT_S = 10.0


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signature_headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{event_id}.{timestamp}.".encode() + body
    mac = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{mac}",
    }


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class Target:
    """A checked URL and the address an attempt connects to."""

    url: str
    host: str
    address: str


@dataclass(frozen=True)
class WebhookPolicy:
    """Where webhooks may point (module docstring, checks 1–3)."""

    allow_http: bool
    hub_host: str
    hub_port: int
    allowed: tuple[Network, ...]
    resolve: Resolver = _system_resolver

    def check_url(self, url: str) -> None:
        """Refuse *url* (:class:`WebhookUrlRefused`) unless it passes checks 1–3 now."""
        self.target(url)

    def target(self, url: str) -> Target:
        parts = urlsplit(url)
        schemes = {"https", "http"} if self.allow_http else {"https"}
        if parts.scheme not in schemes or not parts.hostname:
            raise WebhookUrlRefused(
                "the webhook URL must be an absolute https URL"
                + (" (or http in dev mode)" if self.allow_http else "")
            )
        if parts.username is not None or parts.password is not None or parts.fragment:
            raise WebhookUrlRefused("the webhook URL may have no user info and no fragment")
        host = parts.hostname.lower().rstrip(".")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if (host, port) == (self.hub_host, self.hub_port):
            raise WebhookUrlRefused("the webhook URL points at the hub itself")
        found = self._addresses(host, port)
        if not found:
            raise WebhookUrlRefused("the webhook host does not resolve")
        if port == self.hub_port and set(found) & set(self._addresses(self.hub_host, port)):
            raise WebhookUrlRefused("the webhook URL points at the hub itself")
        for address in found:
            self._check_address(address)
        return Target(url, host, str(found[0]))

    def _addresses(self, host: str, port: int) -> list[Address]:
        try:
            return [ipaddress.ip_address(a.split("%")[0]) for a in self.resolve(host, port)]
        except (OSError, ValueError):
            if host == self.hub_host:
                return []
            raise WebhookUrlRefused("the webhook host does not resolve") from None

    def _check_address(self, address: Address) -> None:
        if any(address in network for network in self.allowed):
            return
        if not address.is_global or address.is_multicast:
            raise WebhookUrlRefused(
                "the webhook host resolves to a loopback, link-local, private or reserved "
                "address that this deployment does not allow (TONGBAN_WEBHOOK_ALLOWED_CIDRS)"
            )


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    error: str | None = None  # a short code: http_503, timeout, connect, url_refused, …


def webhook_client() -> httpx.Client:
    """The HTTP client attempts share (its TLS context is built once): no redirects, no proxy
    from the environment, :data:`TIMEOUT_S` for each attempt."""
    return httpx.Client(timeout=TIMEOUT_S, follow_redirects=False, trust_env=False)


def post_event(
    policy: WebhookPolicy,
    url: str,
    body: bytes,
    headers: dict[str, str],
    client: httpx.Client | None = None,
) -> AttemptResult:
    """One attempt: check the URL again now, POST to the checked address, 2xx is delivered.
    Redirects are not followed (a redirect could lead anywhere the checks would refuse)."""
    try:
        target = policy.target(url)
    except WebhookUrlRefused:
        return AttemptResult(False, "url_refused")
    parts = urlsplit(target.url)
    literal = f"[{target.address}]" if ":" in target.address else target.address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    sent = {**headers, "content-type": "application/json", "host": parts.netloc.split("@")[-1]}
    try:
        if client is None:
            with webhook_client() as own:
                response = own.post(
                    pinned, content=body, headers=sent, extensions={"sni_hostname": target.host}
                )
        else:
            response = client.post(
                pinned, content=body, headers=sent, extensions={"sni_hostname": target.host}
            )
    except httpx.TimeoutException:
        return AttemptResult(False, "timeout")
    except httpx.HTTPError:
        return AttemptResult(False, "connect")
    if 200 <= response.status_code < 300:
        return AttemptResult(True)
    return AttemptResult(False, f"http_{response.status_code}")
