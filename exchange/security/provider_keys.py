"""An OpenID provider's signing keys, fetched from its JWKS URL and cached, so that a key
rotation at the provider is followed without restarting the hub.

Order of a lookup (:meth:`ProviderKeys.key`), enforced in that order:

1. The token's ``alg`` is one the hub accepts from this provider (:func:`checked_algorithm`):
   named by the provider's discovery document (``id_token_signing_alg_values_supported``) and in
   the hub's own :data:`ACCEPTED_ALGORITHMS`. ``none`` and the HMAC algorithms never are (an
   HMAC "signature" keyed with the provider's *public* key proves nothing). Checked before any
   fetch, so such a token costs the provider nothing.
2. The key set fetched last is used while it is younger than ``max_age_s``; older, it is
   fetched again. A fetch that fails keeps the old set (a provider that is briefly down does
   not sign everyone out) and is not retried for ``refetch_interval_s``.
3. A ``kid`` the set does not hold (the provider has rotated its key) fetches the set again,
   but never sooner than ``refetch_interval_s`` after the previous fetch: a flood of tokens with
   made-up key ids costs the provider at most one request per interval.
4. A ``kid`` still unknown is refused: :class:`~exchange.errors.Unauthenticated`, as is a
   key set that could never be fetched.
5. The key may verify that ``alg`` (:func:`verifying_key`): the one its JWK names (``alg``),
   else any the hub accepts for its type (RSA: RS256 or PS256; EC P-256: ES256; OKP Ed25519:
   EdDSA); an RSA key has at least :data:`MIN_RSA_BITS`. The key comes back bound to that one
   algorithm, and PyJWT verifies the signature with it whatever else the token claims.

Only signing keys of these types are kept (``use`` absent or ``sig``, a ``kid``); an RSA key
below 2048 bits is kept so that a token it signs is refused saying why, and each fetch that
brings one says so in the log.

Why not PyJWT's ``PyJWKClient`` (2.15): its refetch on an unknown ``kid`` cools down only after
a *successful* fetch, so while the provider fails every request fetches again; once its cache's
lifespan is over a failed fetch raises instead of keeping the last good keys (a short outage at
the provider would sign everyone out); and it reads with ``urllib`` (redirects followed, no size
bound). The fetch here is :func:`exchange.security.openid.fetch_json`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from exchange.errors import Unauthenticated

__all__ = [
    "ACCEPTED_ALGORITHMS",
    "MIN_RSA_BITS",
    "ProviderKey",
    "ProviderKeys",
    "checked_algorithm",
    "keys_of",
    "verifying_key",
]

log = logging.getLogger("tongban.security")

ACCEPTED_ALGORITHMS = frozenset({"EdDSA", "ES256", "PS256", "RS256"})
"""The hub's allow-list for ID tokens: RS256 (mandatory for OpenID providers), PS256, ES256,
EdDSA. Never ``none``, never HMAC."""

MIN_RSA_BITS = 2048

_SAME_TYPE = {  # the algorithm PyJWK gives a key of no ``alg`` -> every one its type may verify
    "RS256": frozenset({"RS256", "PS256"}),
    "ES256": frozenset({"ES256"}),
    "EdDSA": frozenset({"EdDSA"}),
}
_SHOWN_ALGORITHM = re.compile(r"[A-Za-z0-9+_-]{1,16}")  # a header's alg, echoed only this shape

FetchJson = Callable[[str], Mapping[str, Any]]
"""GETs a URL and answers its JSON object; raises :class:`Unauthenticated` when it cannot."""


class ProviderKey(jwt.PyJWK):
    """One signing key of a provider's JWKS and the algorithms it may verify: the one its JWK
    names (``alg``), else each of :data:`ACCEPTED_ALGORITHMS` its type allows."""

    def __init__(self, jwk: Mapping[str, Any]) -> None:
        super().__init__(dict(jwk))
        self.jwk: Mapping[str, Any] = dict(jwk)
        named = frozenset({self.algorithm_name})
        self.algorithms = named if jwk.get("alg") else _SAME_TYPE.get(self.algorithm_name, named)


def _rsa_bits(key: jwt.PyJWK) -> int | None:
    return key.key.key_size if isinstance(key.key, RSAPublicKey | RSAPrivateKey) else None


def keys_of(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by key id: RSA, EC P-256 and Ed25519 keys with a
    ``kid`` that are not marked for encryption and may verify an algorithm the hub accepts;
    anything else in the set is left out. An RSA key below :data:`MIN_RSA_BITS` is kept (a token
    it signs is refused saying so) and named in the log."""
    found: dict[str, jwt.PyJWK] = {}
    listed = document.get("keys")
    for member in listed if isinstance(listed, list) else []:
        if not isinstance(member, dict) or not isinstance(member.get("kid"), str):
            continue
        if member.get("kty") not in {"OKP", "EC", "RSA"} or member.get("use", "sig") != "sig":
            continue
        try:
            key = ProviderKey(member)
        except jwt.PyJWTError:
            continue
        if not key.algorithms & ACCEPTED_ALGORITHMS:
            continue
        bits = _rsa_bits(key)
        if bits is not None and bits < MIN_RSA_BITS:
            log.warning(
                "the identity provider publishes RSA key %r of %d bits: the hub refuses the "
                "tokens it signs (RSA keys need %d bits or more)",
                member["kid"],
                bits,
                MIN_RSA_BITS,
            )
        found[member["kid"]] = key
    return found


def checked_algorithm(alg: object, accepted: Collection[str]) -> str:
    """``alg``, a token header's, when it is in ``accepted`` (what the issuer signs with) and in
    the hub's :data:`ACCEPTED_ALGORITHMS`; :class:`Unauthenticated` naming it otherwise."""
    if isinstance(alg, str) and alg in accepted and alg in ACCEPTED_ALGORITHMS:
        return alg
    shown = alg if isinstance(alg, str) and _SHOWN_ALGORITHM.fullmatch(alg) else "unknown"
    raise Unauthenticated(
        f"the token's algorithm ({shown}) is not one the hub accepts from its issuer"
    )


def verifying_key(key: jwt.PyJWK, alg: str) -> jwt.PyJWK:
    """``key`` bound to ``alg`` (a :func:`checked_algorithm`), when the key may verify it and an
    RSA key is large enough; :class:`Unauthenticated` saying which failed otherwise."""
    allowed = key.algorithms if isinstance(key, ProviderKey) else {key.algorithm_name}
    if alg not in allowed:
        raise Unauthenticated("the token's algorithm is not its key's")
    bits = _rsa_bits(key)
    if bits is not None and bits < MIN_RSA_BITS:
        raise Unauthenticated(
            f"the token's signing key is an RSA key of {bits} bits; "
            f"the hub accepts RSA keys of {MIN_RSA_BITS} bits or more"
        )
    if isinstance(key, ProviderKey) and alg != key.algorithm_name:
        return jwt.PyJWK(dict(key.jwk), algorithm=alg)  # an RSA key of no ``alg``, for PS256
    return key


class ProviderKeys:
    """The provider's current keys, from ``jwks_url()`` (called when a fetch is due, so the URL
    may itself come from the provider's discovery document), for the algorithms
    ``algorithms()`` names (the provider's discovery document's, likewise)."""

    def __init__(
        self,
        jwks_url: Callable[[], str],
        fetch: FetchJson,
        *,
        algorithms: Callable[[], Collection[str]],
        max_age_s: float,
        refetch_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jwks_url = jwks_url
        self._fetch = fetch
        self._algorithms = algorithms
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

    def key(self, kid: str, alg: object) -> jwt.PyJWK:
        """The provider's key ``kid``, bound to ``alg`` (a token header's): steps 1-5 of the
        module docstring."""
        accepted = checked_algorithm(alg, self._algorithms())
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
        return verifying_key(found, accepted)

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
