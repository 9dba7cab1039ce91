"""An OpenID provider's signing keys, fetched from its JWKS URL and cached, so that a key
rotation at the provider is followed without restarting the hub.

Order of a lookup (:meth:`ProviderKeys.key`), enforced in that order:

1. The key set fetched last is used while it is younger than ``max_age_s``; older, it is
   fetched again. A fetch that fails keeps the old set (a provider that is briefly down does
   not sign everyone out) and is not retried for ``refetch_interval_s``.
2. A ``kid`` the set does not hold (the provider has rotated its key) fetches the set again,
   but never sooner than ``refetch_interval_s`` after the previous fetch: a flood of tokens with
   made-up key ids costs the provider at most one request per interval.
3. A ``kid`` still unknown is refused: :class:`~exchange.errors.Unauthenticated`, as is a
   key set that could never be fetched.

Only signing keys of the two algorithms the hub accepts are kept: EC P-256 (ES256) and OKP
Ed25519 (EdDSA); each key's algorithm follows from its type, never from the token's header.

Why not PyJWT's ``PyJWKClient`` (2.15): its refetch on an unknown ``kid`` cools down only after
a *successful* fetch, so while the provider fails every request fetches again; once its cache's
lifespan is over a failed fetch raises instead of keeping the last good keys (a short outage at
the provider would sign everyone out); and it reads with ``urllib`` (redirects followed, no size
bound). The fetch here is :func:`exchange.security.openid.fetch_json`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from exchange.errors import Unauthenticated

__all__ = ["ACCEPTED_ALGORITHMS", "ProviderKeys", "keys_of"]

ACCEPTED_ALGORITHMS = frozenset({"EdDSA", "ES256"})

FetchJson = Callable[[str], Mapping[str, Any]]
"""GETs a URL and answers its JSON object; raises :class:`Unauthenticated` when it cannot."""


def keys_of(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by key id: EC P-256 and Ed25519 keys with a ``kid``
    that are not marked for encryption; anything else in the set is left out."""
    found: dict[str, jwt.PyJWK] = {}
    listed = document.get("keys")
    for member in listed if isinstance(listed, list) else []:
        if not isinstance(member, dict) or not isinstance(member.get("kid"), str):
            continue
        if member.get("kty") not in {"OKP", "EC"} or member.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(member)
        except jwt.PyJWTError:
            continue
        if key.algorithm_name in ACCEPTED_ALGORITHMS:
            found[member["kid"]] = key
    return found


class ProviderKeys:
    """The provider's current keys, from ``jwks_url()`` (called when a fetch is due, so the URL
    may itself come from the provider's discovery document)."""

    def __init__(
        self,
        jwks_url: Callable[[], str],
        fetch: FetchJson,
        *,
        max_age_s: float,
        refetch_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jwks_url = jwks_url
        self._fetch = fetch
        self._max_age_s = max_age_s
        self._refetch_interval_s = refetch_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = 0.0  # when the set in hand was fetched
        self._tried_at: float | None = None  # when a fetch was last attempted
        self._attempts = 0

    @property
    def fetches(self) -> int:
        """How many fetches were attempted."""
        return self._attempts

    def key(self, kid: str) -> jwt.PyJWK:
        """The provider's key ``kid`` (steps 1-3 of the module docstring)."""
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._fetched_at >= self._max_age_s:
                self._refresh(now)
            keys = self._keys or {}
            if kid not in keys and self._may_fetch(now):
                self._refresh(now)
                keys = self._keys or {}
            if self._keys is None:
                raise Unauthenticated("the identity provider's keys could not be fetched")
            found = keys.get(kid)
        if found is None:
            raise Unauthenticated("the token's signing key is not among the provider's keys")
        return found

    def _may_fetch(self, now: float) -> bool:
        return self._tried_at is None or now - self._tried_at >= self._refetch_interval_s

    def _refresh(self, now: float) -> None:
        if not self._may_fetch(now):
            return
        self._tried_at = now
        self._attempts += 1
        try:
            document = self._fetch(self._jwks_url())
        except Unauthenticated:
            if self._keys is None:
                raise
            return
        self._keys = keys_of(document)
        self._fetched_at = now
