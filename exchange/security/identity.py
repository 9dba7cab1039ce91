"""Staff and citizen identity: ID tokens from a trusted identity provider.

In ``dev`` mode the hub runs a development IdP (``POST /dev/idp/token``) whose Ed25519 key is
derived from the hub secret, so tokens survive restarts and every worker agrees. In ``prod`` it is
off; tokens from an external IdP are trusted when ``TONGBAN_IDP_ISSUER`` and
``TONGBAN_IDP_JWKS_FILE`` are configured. Verification pins the algorithm per key (EdDSA or
ES256 only), and requires ``iss``, ``aud``, ``exp``, ``iat`` and ``sub``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.errors import Unauthenticated
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
        if settings.dev_idp_enabled:
            self._keys[DEV_IDP_ISSUER] = {
                self.dev_kid: jwt.PyJWK(self.dev_public_jwk, algorithm="EdDSA")
            }
        if settings.idp_issuer and settings.idp_jwks_file:
            document = json.loads(settings.idp_jwks_file.read_text("utf-8"))
            self._keys[settings.idp_issuer] = {
                k["kid"]: jwt.PyJWK(k) for k in document["keys"] if k.get("kty") in {"OKP", "EC"}
            }

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
        issued = now or datetime.now(UTC)
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

    def verify(self, token: str) -> Principal:
        """The principal of a valid ID token; :class:`Unauthenticated` otherwise."""
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("the token is too large")
        try:
            header = jwt.get_unverified_header(token)
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise Unauthenticated("the token is malformed") from None
        key = self._keys.get(str(issuer), {}).get(str(header.get("kid")))
        if key is None or key.algorithm_name not in {"EdDSA", "ES256"}:
            raise Unauthenticated("the token's issuer or key is not trusted")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self._audiences,
                issuer=str(issuer),
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is not valid") from None
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
