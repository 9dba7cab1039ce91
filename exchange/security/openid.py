"""The hub's side of signing in at an OpenID provider (OpenID Connect Core, authorization code
flow with PKCE, RFC 7636): the provider's discovery document and the code exchange.

The console starts the sign-in in the browser (state, nonce and the PKCE ``code_verifier`` stay
in its sessionStorage) and hands the code back to the hub with its verifier; the hub, a
confidential client, redeems it at the provider's token endpoint (ADR 0007). Order of
:meth:`OpenIdProvider.redeem`:

1. the discovery document of ``TONGBAN_IDP_ISSUER`` is at hand (fetched, its ``issuer`` equal to
   the configured one, its endpoints https or loopback http, its
   ``id_token_signing_alg_values_supported`` naming an algorithm the hub accepts), cached like
   the keys; a document refused says why in the log;
2. the code, the verifier and the console's redirect URI go to the token endpoint, with the
   client secret (``client_secret_basic``) when one is configured;
3. a refusal of the provider becomes :class:`Unauthenticated` naming its OAuth error code
   (``invalid_grant`` for a code that was used already, expired, or was not issued with that
   verifier); an answer without an ``id_token`` likewise.

The ID token that comes back is verified by :class:`~exchange.security.identity.IdentityProviders`
exactly as any bearer token is (issuer, audience, signature from the provider's JWKS with an
algorithm of :meth:`OpenIdProvider.signing_algorithms`), plus the sign-in's nonce.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from exchange.errors import Unauthenticated
from exchange.security.errors import IdentityProviderUnavailable
from exchange.security.provider_keys import ACCEPTED_ALGORITHMS

__all__ = ["OpenIdProvider", "fetch_json"]

log = logging.getLogger("tongban.security")

TIMEOUT_S = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"
_OAUTH_ERROR = re.compile(r"[a-z_]{1,64}")  # RFC 6749 5.2's error codes, nothing else echoed


def _acceptable_url(url: object) -> bool:
    """An https URL, or http on loopback (a provider on the same machine)."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    return bool(parts.hostname) and (
        parts.scheme == "https" or (parts.scheme == "http" and loopback)
    )


def _bounded_json(method: str, url: str, **request: Any) -> tuple[int, object]:
    """The status and the JSON of ``url``'s answer (``None`` when it is not JSON), read no
    further than :data:`MAX_DOCUMENT_BYTES`, no redirects followed; :class:`httpx.HTTPError`
    when the provider cannot be reached, :class:`Unauthenticated` when it answers too much."""
    body = bytearray()
    with httpx.stream(method, url, timeout=TIMEOUT_S, follow_redirects=False, **request) as answer:
        for chunk in answer.iter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise Unauthenticated("the identity provider's answer is too large")
        status = answer.status_code
    try:
        return status, json.loads(bytes(body))
    except ValueError:
        return status, None


def _signing_algorithms(document: Mapping[str, Any]) -> frozenset[str]:
    named = document.get("id_token_signing_alg_values_supported")
    listed = named if isinstance(named, list) else []
    return ACCEPTED_ALGORITHMS.intersection(a for a in listed if isinstance(a, str))


def fetch_json(url: str) -> Mapping[str, Any]:
    """GET ``url``'s JSON object; :class:`Unauthenticated` saying what went wrong otherwise."""
    try:
        status, document = _bounded_json("GET", url)
    except httpx.HTTPError:
        raise Unauthenticated("the identity provider could not be reached") from None
    if status != 200:
        raise Unauthenticated(f"the identity provider answered HTTP {status}")
    if not isinstance(document, dict):
        raise Unauthenticated("the identity provider's answer is not a JSON object")
    return document


class OpenIdProvider:
    """The configured provider: its discovery document (cached for ``max_age_s``, refetched no
    sooner than ``retry_s`` after a failure) and the code exchange."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        *,
        max_age_s: float,
        retry_s: float,
        fetch: Callable[[str], Mapping[str, Any]] = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._secret = client_secret
        self._fetch = fetch
        self._clock = clock
        self._max_age_s = max_age_s
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._document: Mapping[str, Any] | None = None
        self._fetched_at = 0.0
        self._failed_at: float | None = None

    def discovery(self) -> Mapping[str, Any]:
        """The provider's discovery document (step 1)."""
        with self._lock:
            now = self._clock()
            fresh = self._document is not None and now - self._fetched_at < self._max_age_s
            resting = self._failed_at is not None and now - self._failed_at < self._retry_s
            if not fresh and not resting:
                try:
                    fetched = self._fetch(self.issuer.rstrip("/") + DISCOVERY_PATH)
                    self._document = self._checked(fetched)
                    self._fetched_at, self._failed_at = now, None
                except Unauthenticated as refused:
                    log.warning("OpenID discovery at %s failed: %s", self.issuer, refused.detail)
                    self._failed_at = now
            if self._document is None:
                raise IdentityProviderUnavailable(
                    "the identity provider's discovery document could not be fetched"
                )
            return self._document

    def _checked(self, document: Mapping[str, Any]) -> Mapping[str, Any]:
        if document.get("issuer") != self.issuer:
            raise Unauthenticated("the discovery document names another issuer")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not _acceptable_url(document.get(name)):
                raise Unauthenticated(f"the discovery document's {name} is not an https URL")
        methods = document.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise Unauthenticated("the identity provider does not support PKCE with S256")
        if not _signing_algorithms(document):
            accepted = ", ".join(sorted(ACCEPTED_ALGORITHMS))
            raise Unauthenticated(
                "the discovery document's id_token_signing_alg_values_supported names none of "
                f"the algorithms the hub accepts ({accepted})"
            )
        return document

    def signing_algorithms(self) -> frozenset[str]:
        """The algorithms the hub accepts in the provider's ID tokens: those its discovery
        document names (``id_token_signing_alg_values_supported``) that the hub accepts too."""
        try:
            return _signing_algorithms(self.discovery())
        except IdentityProviderUnavailable as exc:
            raise Unauthenticated(str(exc)) from None

    def jwks_url(self) -> str:
        """The provider's JWKS URL, from its discovery document."""
        try:
            return str(self.discovery()["jwks_uri"])
        except IdentityProviderUnavailable as exc:
            raise Unauthenticated(str(exc)) from None

    def redeem(self, code: str, code_verifier: str, redirect_uri: str) -> str:
        """The ID token the provider gives for ``code`` (steps 2 and 3), not yet verified."""
        endpoint = str(self.discovery()["token_endpoint"])
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": code_verifier,
            "redirect_uri": redirect_uri,
        }
        auth: tuple[str, str] | None = None
        if self._secret is None:
            form["client_id"] = self.client_id
        else:
            auth = (self.client_id, self._secret)
        try:
            status, answer = _bounded_json("POST", endpoint, data=form, auth=auth)
        except httpx.HTTPError:
            raise IdentityProviderUnavailable(
                "the identity provider's token endpoint could not be reached"
            ) from None
        if not isinstance(answer, dict):
            answer = {}
        if status != 200:
            error = answer.get("error")
            said = error if isinstance(error, str) and _OAUTH_ERROR.fullmatch(error) else None
            raise Unauthenticated(
                f"the identity provider refused the authorization code ({said or f'HTTP {status}'})"
            )
        token = answer.get("id_token")
        if not isinstance(token, str) or not token:
            raise Unauthenticated("the identity provider's answer carries no ID token")
        return token
