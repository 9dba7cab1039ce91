"""Client authentication with ``private_key_jwt`` (RFC 7523) and the hub's access tokens.

A case system (办件系统) proves who it is with a client assertion: a JWT it signs with a key it
registered (``catalogue.systems``). The hub answers with a short-lived access token (RFC 9068,
``typ`` ``at+jwt``) signed by :class:`exchange.security.keys.HubKeys`, which the system then
presents as ``Authorization: Bearer`` to the exchange routes.

A client assertion is accepted only after every check below passes, in this order; the first
that fails ends the request with ``invalid_client`` (401) and a reason naming the check, never
the assertion's contents:

1. shape: a compact JWT (three dot-separated parts) of at most 8 KiB;
2. header ``alg`` is one the hub's crypto profile accepts from clients: EdDSA or ES256 on an
   ``intl`` hub, SM2SM3 only on a ``gm`` hub (SM2 with SM3, a registered ``"crv": "SM2"`` key;
   docs/gm.md says why no setting relaxes it) (``none``, HS*, RS* are refused before any key
   is touched);
3. ``iss`` and ``sub`` are present and equal, and name a registered, active system;
4. the key: ``kid`` names an unretired key of that system (without a kid, the system's only
   active key), and the header ``alg`` is exactly that key's alg;
5. the signature verifies under that key, with that one algorithm;
6. ``aud`` names this hub: its issuer identifier (the public URL, exactly) or this token
   endpoint's URL (draft-ietf-oauth-rfc7523bis); a string, or a list of which every member
   names this hub, so an assertion made for another server as well is never accepted;
7. freshness: ``exp`` is present and not past; an assertion is usable for at most 5 minutes
   from when it was signed: with ``iat``, until ``iat`` + 5 minutes (so a stock client that
   writes a long ``exp``, as Authlib does with an hour, is still held to 5 minutes), without
   ``iat`` only if ``exp`` is at most 5 minutes ahead; ``iat`` and ``nbf`` are not in the
   future (60 s leeway for clock skew on every time check);
8. ``jti`` is present (at most 200 characters) and was not used by the system before: it is
   recorded in ``client_assertion_jtis`` until the assertion stops being usable, and a
   duplicate insert is a replay. The caller commits that record before it hands out the
   access token.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from catalogue.models import System, SystemKey
from catalogue.vocabulary import SystemStatus
from exchange.changes import Cached, Domain, stamps
from exchange.errors import Unauthenticated
from exchange.security.errors import InvalidClient, InvalidRequest, UnsupportedGrantType
from exchange.security.keys import HubKeys, verifying_key
from exchange.security.models import MAX_JTI_CHARS, ClientAssertionJti

__all__ = [
    "ACCESS_TOKEN_AUDIENCE",
    "ACCESS_TOKEN_TYP",
    "ALGORITHMS",
    "CLIENT_ASSERTION_TYPE",
    "GM_ALGORITHMS",
    "GRANT_TYPE",
    "AccessToken",
    "RememberedCaller",
    "SystemPrincipal",
    "authenticate_client",
    "client_algorithms",
    "client_algorithms_of",
    "confirmed_caller",
    "grant_client_credentials",
    "issue_access_token",
    "remembered_caller",
    "token_endpoint_url",
    "verify_access_token",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT_TYPE = "client_credentials"
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type (RFC 9068), not a secret
ACCESS_TOKEN_AUDIENCE = "tongban-exchange"  # noqa: S105 - an audience name, not a secret
ACCESS_TOKEN_LIFETIME = timedelta(seconds=300)
MAX_ASSERTION_BYTES = 8 * 1024
MAX_ASSERTION_AHEAD = timedelta(minutes=5)
LEEWAY = timedelta(seconds=60)
ALGORITHMS = frozenset({"EdDSA", "ES256"})
"""What a case system may sign its assertions with on an ``intl`` hub."""
GM_ALGORITHMS = frozenset({"SM2SM3"})
"""On a ``gm`` hub: SM2 keys only. GB/T 39786 level 3 asks for identity authentication with
national algorithms (应), so an Ed25519 or P-256 key would be a finding of its own; no setting
relaxes it (docs/gm.md)."""


def client_algorithms_of(profile: str) -> frozenset[str]:
    """The assertion algorithms a hub of crypto *profile* accepts, and registers keys of."""
    return GM_ALGORITHMS if profile == "gm" else ALGORITHMS


def client_algorithms(keys: HubKeys) -> frozenset[str]:
    """The assertion algorithms the hub whose keys are *keys* accepts (its crypto profile's)."""
    return client_algorithms_of(keys.profile.name)


@dataclass(frozen=True)
class SystemPrincipal:
    """The case system an access token was issued to, as it is registered now."""

    system_id: str
    department: str
    purposes: tuple[str, ...]


@dataclass(frozen=True)
class AccessToken:
    access_token: str
    expires_in: int

    def as_response(self) -> dict[str, Any]:
        """The OAuth 2.0 token response body (RFC 6749 section 5.1)."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


def token_endpoint_url(base_url: str) -> str:
    """The URL client assertions must name as their audience."""
    return f"{base_url.rstrip('/')}/oauth/token"


def grant_client_credentials(
    session: Session,
    keys: HubKeys,
    form: Mapping[str, str],
    *,
    base_url: str,
    now: datetime,
) -> AccessToken:
    """The client credentials grant: check the form, authenticate the client, issue a token.

    Records the assertion's ``jti`` in ``session``; the caller commits before responding.
    """
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    if grant_type != GRANT_TYPE:
        raise UnsupportedGrantType("only grant_type=client_credentials is supported")
    if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
        raise InvalidRequest(f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}")
    assertion = form.get("client_assertion")
    if not assertion:
        raise InvalidRequest("client_assertion is required")
    issuer = base_url.rstrip("/")
    system = authenticate_client(
        session, assertion, issuer=issuer, now=now, algorithms=client_algorithms(keys)
    )
    client_id = form.get("client_id")
    if client_id is not None and client_id != system.id:
        raise InvalidClient("client_id does not name the assertion's issuer")
    return issue_access_token(session, keys, system, issuer=issuer, now=now)


def authenticate_client(
    session: Session,
    assertion: str,
    *,
    issuer: str,
    now: datetime,
    algorithms: frozenset[str] = ALGORITHMS,
) -> System:
    """The system a valid client assertion authenticates (checks in the module docstring);
    ``issuer`` is the hub's issuer identifier, its public URL; ``algorithms`` those the hub's
    profile accepts (:func:`client_algorithms`)."""
    header, unverified = _parse(assertion, algorithms)
    system = _registered_system(session, unverified)
    key = _signing_key(session, system.id, header)
    claims = _verified_claims(assertion, key)
    _check_audience(claims, frozenset({issuer, token_endpoint_url(issuer)}))
    expires = _check_times(claims, now)
    _record_jti(session, system.id, claims.get("jti"), expires, now)
    return system


def _parse(assertion: str, algorithms: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    if len(assertion.encode("utf-8")) > MAX_ASSERTION_BYTES:
        raise InvalidClient("the client assertion is larger than 8 KiB")
    if assertion.count(".") != 2:
        raise InvalidClient("the client assertion is not a compact JWT")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise InvalidClient("the client assertion's header is not valid") from None
    if header.get("alg") not in algorithms:
        raise InvalidClient(
            "the assertion's algorithm is not allowed; sign with "
            + " or ".join(sorted(algorithms, key=("EdDSA", "ES256", "SM2SM3").index))
        )
    try:
        unverified: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidClient("the client assertion's payload is not valid") from None
    return header, unverified


def _registered_system(session: Session, unverified: dict[str, Any]) -> System:
    issuer, subject = unverified.get("iss"), unverified.get("sub")
    if not isinstance(issuer, str) or not issuer or issuer != subject:
        raise InvalidClient("the assertion's iss and sub must both be the client's system id")
    system = session.get(System, issuer)
    if system is None or system.status != SystemStatus.ACTIVE:
        raise InvalidClient("the assertion's issuer is not a registered, active system")
    return system


def _signing_key(session: Session, system_id: str, header: dict[str, Any]) -> SystemKey:
    active = session.scalars(
        select(SystemKey).where(SystemKey.system_id == system_id, SystemKey.retired_at.is_(None))
    ).all()
    kid = header.get("kid")
    if kid is None:
        if len(active) != 1:
            raise InvalidClient("the assertion has no kid and the system has several active keys")
        key = active[0]
    else:
        named = [k for k in active if k.kid == kid]
        if not named:
            raise InvalidClient("the assertion's kid does not name an active key of the system")
        key = named[0]
    if header.get("alg") != key.alg:
        raise InvalidClient("the assertion's algorithm is not the registered key's algorithm")
    return key


def _verified_claims(assertion: str, key: SystemKey) -> dict[str, Any]:
    """Verify the signature with exactly the key's algorithm; claims are checked by us after."""
    try:
        public = verifying_key(key.alg, key.jwk)  # an SM2 key too (PyJWT's parser has none)
        claims: dict[str, Any] = jwt.decode(
            assertion,
            public,
            algorithms=[key.alg],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise InvalidClient("the assertion's signature does not verify") from None
    except (jwt.PyJWTError, jwt.PyJWKError):
        raise InvalidClient("the assertion cannot be verified with the registered key") from None
    return claims


def _check_audience(claims: dict[str, Any], ours: frozenset[str]) -> None:
    audience = claims.get("aud")
    named = audience if isinstance(audience, list) else [audience]
    if not named or any(not isinstance(a, str) or a not in ours for a in named):
        raise InvalidClient(
            "the assertion's audience is not this hub (its issuer or this token endpoint)"
        )


def _check_times(claims: dict[str, Any], now: datetime) -> datetime:
    """Until when the assertion is usable, after checking exp, iat and nbf against ``now``."""
    exp = claims.get("exp")
    if exp is None:
        raise InvalidClient("the assertion has no exp claim")
    expires = _instant(exp, "exp")
    if expires < now - LEEWAY:
        raise InvalidClient("the assertion has expired")
    for name in ("iat", "nbf"):
        if name in claims and _instant(claims[name], name) > now + LEEWAY:
            raise InvalidClient(f"the assertion is not valid yet ({name} is in the future)")
    if "iat" not in claims:
        if expires > now + MAX_ASSERTION_AHEAD + LEEWAY:
            raise InvalidClient(
                "the assertion's exp is more than 5 minutes ahead and it has no iat"
            )
        return expires
    usable_until = _instant(claims["iat"], "iat") + MAX_ASSERTION_AHEAD + LEEWAY
    if usable_until < now:
        raise InvalidClient("the assertion was signed more than 5 minutes ago (iat)")
    return min(expires, usable_until)


def _instant(value: object, name: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidClient(f"the assertion's {name} is not a NumericDate")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidClient(f"the assertion's {name} is out of range") from None


def _record_jti(
    session: Session, system_id: str, jti: object, expires: datetime, now: datetime
) -> None:
    """Insert (system, jti) until the assertion expires; a duplicate means a replay."""
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
        raise InvalidClient("the assertion's jti is missing or longer than 200 characters")
    session.execute(
        delete(ClientAssertionJti).where(
            ClientAssertionJti.system_id == system_id, ClientAssertionJti.expires_at < now
        )
    )
    if session.get(ClientAssertionJti, (system_id, jti)) is not None:
        raise InvalidClient("the assertion's jti was already used")
    try:
        with session.begin_nested():
            session.add(
                ClientAssertionJti(system_id=system_id, jti=jti, expires_at=expires + LEEWAY)
            )
            session.flush()
    except IntegrityError:  # a concurrent request with the same jti committed first
        raise InvalidClient("the assertion's jti was already used") from None


def issue_access_token(
    session: Session, keys: HubKeys, system: System, *, issuer: str, now: datetime
) -> AccessToken:
    """A hub access token (RFC 9068) for ``system``, valid for 300 seconds."""
    issued = int(now.timestamp())
    lifetime = int(ACCESS_TOKEN_LIFETIME.total_seconds())
    claims = {
        "iss": issuer,
        "aud": ACCESS_TOKEN_AUDIENCE,
        "sub": system.id,
        "client_id": system.id,
        "department": system.department_code,
        "purposes": sorted(system.purposes),
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + lifetime,
    }
    return AccessToken(keys.sign(session, claims, typ=ACCESS_TOKEN_TYP), lifetime)


_ACCESS_TOKEN_CLAIMS = ("exp", "sub", "client_id", "jti")


def verify_access_token(
    session: Session, keys: HubKeys, token: str, *, issuer: str
) -> SystemPrincipal:
    """The system a hub access token names, if the token is valid and the system still active;
    :class:`Unauthenticated` otherwise."""
    claims = keys.verify(
        session,
        token,
        typ=ACCESS_TOKEN_TYP,
        audience=ACCESS_TOKEN_AUDIENCE,
        issuer=issuer.rstrip("/"),
        require=_ACCESS_TOKEN_CLAIMS,
    )
    if claims["client_id"] != claims["sub"]:
        raise Unauthenticated("the token's client_id is not its subject")
    principal = _ACTIVE_SYSTEMS.get(session, str(claims["sub"]))
    if principal is None:
        raise Unauthenticated("the token's system is not registered and active")
    return principal


@dataclass(frozen=True)
class RememberedCaller:
    """A token's system as this process last confirmed it, not yet confirmed for this
    request: :func:`confirmed_caller` does that in the request's first unit of work, before
    anything is decided, read or written for it."""

    principal: SystemPrincipal
    token: str
    issuer: str
    keys_stamp: str
    systems_stamp: str


def remembered_caller(keys: HubKeys, token: str, *, issuer: str) -> RememberedCaller | None:
    """:func:`verify_access_token` from memory only (no database, so no trip to a thread):
    the token verified before by this process, its key published and its time holding, its
    system active, as last read; None when anything must be read."""
    remembered = keys.remembered_claims(
        token,
        typ=ACCESS_TOKEN_TYP,
        audience=ACCESS_TOKEN_AUDIENCE,
        issuer=issuer.rstrip("/"),
        require=_ACCESS_TOKEN_CLAIMS,
    )
    if remembered is None:
        return None
    claims, keys_stamp = remembered
    if claims["client_id"] != claims["sub"]:
        return None
    system = _ACTIVE_SYSTEMS.remembered(str(claims["sub"]))
    if system is None:
        return None
    principal, systems_stamp = system
    if principal is None:  # remembered as not active: checked in full, which says so
        return None
    return RememberedCaller(principal, token, issuer, keys_stamp, systems_stamp)


def confirmed_caller(
    session: Session, keys: HubKeys, caller: SystemPrincipal | RememberedCaller
) -> SystemPrincipal:
    """The caller as it stands for this request: a remembered one whose keys and systems have
    not changed since (the request's stamps, :mod:`exchange.changes`) is as remembered;
    otherwise its token is checked again, reading what changed (:class:`Unauthenticated` if it
    no longer holds: a retired key, a suspended system)."""
    if isinstance(caller, SystemPrincipal):
        return caller
    now = stamps(session)
    if now.get(Domain.KEYS) == caller.keys_stamp and now.get(Domain.SYSTEMS) == (
        caller.systems_stamp
    ):
        return caller.principal
    return verify_access_token(session, keys, caller.token, issuer=caller.issuer)


def _active_system(session: Session, system_id: str) -> SystemPrincipal | None:
    system = session.get(System, system_id)
    if system is None or system.status != SystemStatus.ACTIVE:
        return None
    return SystemPrincipal(system.id, system.department_code, tuple(system.purposes))


_ACTIVE_SYSTEMS: Cached[str, SystemPrincipal | None] = Cached(Domain.SYSTEMS, _active_system)
"""Each token's system as the exchange sees it, read once per change of the systems (a
suspended system is refused from the next request on, in every worker)."""
