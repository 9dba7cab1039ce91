"""Staff and citizen identity: ID tokens from a trusted identity provider.

In ``dev`` mode the hub runs a development IdP (``POST /dev/idp/token``) whose Ed25519 key is
derived from the hub secret, so tokens survive restarts and every worker agrees. In ``prod`` it is
off. Tokens of an external OpenID provider (``TONGBAN_IDP_ISSUER``) are trusted with the keys of
``TONGBAN_IDP_JWKS_FILE`` when that is set, else with the keys its JWKS URL serves (found through
its discovery document, cached and refetched on rotation: :mod:`exchange.security.provider_keys`).
docs/sign-in.md says how to configure one.

Order of :meth:`IdentityProviders.verify`: the size; the header and the unverified issuer parse;
the issuer is trusted; the header names a key id and an algorithm the issuer signs with and the
hub accepts (RS256, PS256, ES256, EdDSA; never ``none`` or HMAC); the issuer has that key (an
unknown one refetches the provider's keys, rate-limited) and it may verify that algorithm (an RSA
key of 2048 bits or more); the signature with the key bound to that algorithm;
``iss``, ``aud`` (``tongban-hub`` or the console's client id), ``exp``, ``iat`` and ``sub`` present
and valid; a known ``role``. Each refusal is an :class:`Unauthenticated` that says which step
failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange import clock
from exchange.errors import Unauthenticated
from exchange.security.openid import OpenIdProvider, fetch_json
from exchange.security.provider_keys import (
    ACCEPTED_ALGORITHMS,
    ProviderKeys,
    checked_algorithm,
    keys_of,
    verifying_key,
)
from exchange.security.secrets import KeySchedule, KeyUse
from exchange.settings import Settings

__all__ = ["DEV_IDP_ISSUER", "IdentityProviders", "Principal", "Role"]

DEV_IDP_ISSUER = "urn:tongban:dev-idp"
AUDIENCE = "tongban-hub"
TOKEN_LIFETIME = timedelta(hours=1)
MAX_TOKEN_CHARS = 8192
LEEWAY = timedelta(seconds=60)


class Role(StrEnum):
    CITIZEN = "citizen"
    AUDITOR = "auditor"
    DEPARTMENT_ADMIN = "department_admin"
    OPERATOR = "operator"
    DATA_AUTHORITY = "data_authority"
    """The data authority (主管部门, e.g. a 大数据局): evaluates departments (共享评价); neither
    the hub's operator nor an auditor, and refused by every route not meant for it."""
    SHARING_OFFICER = "sharing_officer"
    """A department's sharing officer (数据共享负责人): signs off the department's applications
    for shared data and its replies to other departments' applications (《政务数据共享条例》
    art. 20-22); names its department like a department admin."""
    DEPARTMENT_HEAD = "department_head"
    """A department's head (部门负责人): signs off the department's catalogue entries, with
    their 保密风险 and 个人信息保护影响 assessments, before they go to the data authority for
    review (《政务数据共享条例》 art. 14); names its department like a department admin."""


@dataclass(frozen=True)
class Principal:
    """Who a verified ID token names."""

    subject: str
    role: Role
    department: str | None
    issuer: str

    def __repr__(self) -> str:  # never print a citizen's ID number
        shown = "***" if self.role is Role.CITIZEN else self.subject
        return f"Principal({shown!r}, {self.role.value}, {self.department!r})"


class IdentityProviders:
    """The issuers the hub trusts, with their verification keys."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._keys: dict[str, dict[str, jwt.PyJWK]] = {}
        self._fetched: dict[str, ProviderKeys] = {}
        self.provider: OpenIdProvider | None = None
        """The provider the console signs in at (issuer discovered, client id configured)."""
        if settings.dev_idp_enabled:
            self._keys[DEV_IDP_ISSUER] = {
                self.dev_kid: jwt.PyJWK(self.dev_public_jwk, algorithm="EdDSA")
            }
        issuer = settings.idp_issuer
        if issuer and settings.idp_jwks_file:
            document = json.loads(settings.idp_jwks_file.read_text("utf-8"))
            self._keys[issuer] = keys_of(document)
        elif issuer:
            secret = settings.idp_client_secret
            self.provider = OpenIdProvider(
                issuer,
                settings.idp_client_id or "",
                secret.get_secret_value() if secret else None,
                max_age_s=settings.idp_jwks_max_age_s,
                retry_s=settings.idp_jwks_refetch_interval_s,
            )
            self._fetched[issuer] = ProviderKeys(
                self.provider.jwks_url,
                fetch_json,
                algorithms=self.provider.signing_algorithms,
                max_age_s=settings.idp_jwks_max_age_s,
                refetch_interval_s=settings.idp_jwks_refetch_interval_s,
            )
            if not settings.idp_client_id:
                self.provider = None  # tokens verify; the console cannot sign in there

    @cached_property
    def _audiences(self) -> list[str]:
        """``tongban-hub``, and the console's client id at the external IdP when one is
        configured (an OpenID Connect ID token names the client it was issued to)."""
        client = self._settings.idp_client_id
        return [AUDIENCE, client] if client else [AUDIENCE]

    @cached_property
    def _dev_key(self) -> Ed25519PrivateKey:
        secret = self._settings.secret_key.get_secret_value()
        seed = KeySchedule(secret).key(KeyUse.DEV_IDP_SIGNING)
        return Ed25519PrivateKey.from_private_bytes(seed)

    @cached_property
    def dev_public_jwk(self) -> dict[str, str]:
        raw = self._dev_key.public_key().public_bytes_raw()
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.dev_kid,
        }

    @cached_property
    def dev_kid(self) -> str:
        raw = self._dev_key.public_key().public_bytes_raw()
        return "dev-" + hashlib.sha256(raw).hexdigest()[:16]

    def issue_dev_token(
        self,
        subject: str,
        role: Role,
        department: str | None,
        now: datetime | None = None,
        *,
        nonce: str | None = None,
    ) -> str:
        """An ID token from the development IdP (dev mode only; callers check the mode).

        ``nonce`` is the sign-in's nonce (OpenID Connect Core §3.1.2.1), copied into the token
        so the console can tell a token it asked for from one planted on it."""
        issued = now or clock.now()
        claims: dict[str, Any] = {
            "iss": DEV_IDP_ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "role": role.value,
            "iat": int(issued.timestamp()),
            "exp": int((issued + TOKEN_LIFETIME).timestamp()),
            "jti": str(uuid.uuid4()),
        }
        if department is not None:
            claims["department"] = department
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(
            claims, self._dev_key, algorithm="EdDSA", headers={"kid": self.dev_kid, "typ": "JWT"}
        )

    def verify(self, token: str, *, nonce: str | None = None) -> Principal:
        """The principal of a valid ID token; :class:`Unauthenticated` otherwise. With
        ``nonce``, the token must carry it (the sign-in it completes asked for it)."""
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("the token is too large")
        try:
            header = jwt.get_unverified_header(token)
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise Unauthenticated("the token is malformed") from None
        key = self._key(str(issuer), header.get("kid"), header.get("alg"))
        claims = self._claims(token, key, str(issuer))
        if nonce is not None and claims.get("nonce") != nonce:
            raise Unauthenticated("the token does not carry this sign-in's nonce")
        try:
            role = Role(str(claims.get("role")))
        except ValueError:
            raise Unauthenticated("the token carries no known role") from None
        department = claims.get("department")
        return Principal(
            subject=str(claims["sub"]),
            role=role,
            department=str(department) if department is not None else None,
            issuer=str(issuer),
        )

    def _key(self, issuer: str, kid: object, alg: object) -> jwt.PyJWK:
        if issuer not in self._keys and issuer not in self._fetched:
            raise Unauthenticated("the token's issuer is not trusted")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no key id")
        if issuer in self._fetched:
            return self._fetched[issuer].key(kid, alg)
        accepted = checked_algorithm(alg, ACCEPTED_ALGORITHMS)
        found = self._keys[issuer].get(kid)
        if found is None:
            raise Unauthenticated("the token's signing key is not among the issuer's keys")
        return verifying_key(found, accepted)

    def _claims(self, token: str, key: jwt.PyJWK, issuer: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self._audiences,
                issuer=issuer,
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token was issued for another audience") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.InvalidAlgorithmError:
            raise Unauthenticated("the token's algorithm is not its key's") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token has no {exc.claim!r} claim") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is not valid") from None
        return claims
