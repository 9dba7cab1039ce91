"""The hub's own signing keys (平台签名密钥): access tokens and evidence are signed with them.

Keys live in the hub database (table ``hub_signing_keys``), so every worker signs with the same
key and a rotation on one worker is seen by all. The private key is stored encrypted with the
crypto profile's AEAD under a key derived from ``TONGBAN_SECRET_KEY`` (``intl``: AES-256-GCM
under HKDF-SHA-256, the private key as PKCS #8 DER; ``gm``: SM4-GCM under HKDF-SM3, the SM2
private scalar's 32 bytes); the row's kid and alg are the associated data, so a ciphertext moved
to another row does not decrypt.

The profile decides the algorithms (:mod:`exchange.security.gm.profile`): an ``intl`` hub makes
and accepts EdDSA (the default) and ES256 keys, a ``gm`` hub only SM2 keys (``SM2SM3``,
:mod:`exchange.security.gm.jws`). A token is verified under the algorithm of the key its kid
names, and only if that algorithm is one of the profile's: the header's ``alg`` must equal it,
never choose it.

Keys are numbered by ``generation`` (unique). The current key is the highest generation; the
previous one stays published in the JWKS and keeps verifying, so tokens signed just before a
rotation stay valid; anything older is retired at the next rotation. Two workers creating the
first key at once both try generation 1: the unique constraint lets one win, and the loser reads
the winner's key. Decrypted keys are cached in memory per process, by kid.

:meth:`HubKeys.current` may insert the first key: on SQLite call it inside a write unit of work
(``unit_of_work(..., write=True)``) so that the insert does not meet a stale read lock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange import changes, clock
from exchange.changes import Cached, Domain
from exchange.errors import Unauthenticated
from exchange.security.errors import HubKeyUnavailable, KeyRotationConflict
from exchange.security.gm import jws as gm_jws
from exchange.security.gm.errors import AlgorithmNotInProfile, CiphertextInvalid, GmKeyInvalid
from exchange.security.gm.module import MODULE_HANDLE, Sm2Module, load_module, module_signer
from exchange.security.gm.profile import CryptoProfile, profile_named
from exchange.security.gm.sm2 import Sm2PublicKey, Sm2Signer, SoftwareSm2Signer
from exchange.security.models import HubSigningKey
from exchange.security.secrets import KeySchedule, KeyUse
from exchange.settings import Settings

__all__ = [
    "HubKey",
    "HubKeys",
    "SigningAlgorithm",
    "sm2_module_of",
    "verifying_key",
]

MAX_TOKEN_CHARS = 8192
LEEWAY = timedelta(seconds=60)
_PUBLISHED = 2  # the current key and the previous one
_PUBLISHED_KEYS = "published"  # the one key of the published keys' cache
_VERIFIED_TOKENS = 4096
"""Tokens whose signature this process verified, kept so that a case system's access token,
sent with every query for its five minutes, is verified once: a later use of the same bytes
only checks that its key is still published and its time has not run out."""


class SigningAlgorithm(StrEnum):
    """JWS algorithms the hub signs with: Ed25519 (the ``intl`` default) or P-256 under the
    ``intl`` profile, SM2 with SM3 under ``gm``."""

    EDDSA = "EdDSA"
    ES256 = "ES256"
    SM2SM3 = gm_jws.ALG


PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey | Sm2Signer


@dataclass(frozen=True)
class HubKey:
    """What may be shown of a hub key: never the private part."""

    kid: str
    alg: str
    generation: int
    created_at: datetime
    retired_at: datetime | None
    public_jwk: dict[str, str]

    def jwk(self) -> dict[str, str]:
        """The public JWK as published: kty, crv, x, (y), kid, alg, use."""
        members: tuple[str, ...] = ("kty", "crv", "x", "y")
        public = {k: self.public_jwk[k] for k in members if k in self.public_jwk}
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}


def _view(row: HubSigningKey) -> HubKey:
    return HubKey(
        row.kid, row.alg, row.generation, row.created_at, row.retired_at, dict(row.public_jwk)
    )


class HubKeys:
    """The hub's signing keys: create on first use, rotate, publish, sign and verify."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.secret_key.get_secret_value()
        self.profile: CryptoProfile = profile_named(settings.crypto_profile)
        self._algorithms = frozenset(self.profile.jws_algs)
        wrapping = KeySchedule(secret, self.profile).key(KeyUse.HUB_KEYS_AT_REST)
        self._aead = self.profile.aead(wrapping[: self.profile.aead_key_bytes])
        self._private: dict[str, PrivateKey] = {}
        self._public: dict[str, Any] = {}  # kid: verifying_key()
        self._published: Cached[str, tuple[HubKey, ...]] = Cached(Domain.KEYS, _read_published)
        self._verified: OrderedDict[tuple[Any, ...], tuple[dict[str, Any], str]] = OrderedDict()
        self._verified_lock = threading.Lock()
        self._seen_a_key = False
        self._module = sm2_module_of(settings)

    @property
    def initialised(self) -> bool:
        """Whether this process has seen a key; keys are never deleted, so it stays true."""
        return self._seen_a_key

    # -- reading --------------------------------------------------------------------------

    def published(self, session: Session) -> list[HubKey]:
        """The current key and the previous one (newest first); empty before the first key.
        Read once per change of the keys (:mod:`exchange.changes`), whichever worker makes it."""
        keys = self._published.get(session, _PUBLISHED_KEYS)
        if keys:
            self._seen_a_key = True
        return list(keys)

    def history(self, session: Session) -> list[HubKey]:
        """Every key ever made, newest first."""
        rows = session.scalars(select(HubSigningKey).order_by(HubSigningKey.generation.desc()))
        return [_view(r) for r in rows]

    @property
    def default_algorithm(self) -> SigningAlgorithm:
        """The algorithm of the first key and of a rotation that names none: EdDSA under
        ``intl``, SM2SM3 under ``gm``."""
        return SigningAlgorithm(self.profile.jws_alg)

    def current(self, session: Session) -> HubKey:
        """The key new signatures use; a key of the profile's default algorithm is created on
        first use."""
        published = self.published(session)
        if published:
            return published[0]
        # Generation 1 is unique: if another worker inserted it first, ours is refused (on
        # PostgreSQL after the other commits) and the winner's key is read back instead.
        self._insert(session, self.default_algorithm, 1, clock.now())
        changes.forget(session)  # ours or, if it was refused, the winner's
        published = self.published(session)
        if not published:
            raise HubKeyUnavailable("the hub could not create its first signing key")
        return published[0]

    def jwks(self, session: Session) -> dict[str, list[dict[str, str]]]:
        """The JWKS: current and previous keys, public members only (creates the first key)."""
        self.current(session)
        return {"keys": [k.jwk() for k in self.published(session)]}

    def check_stored_key(self, session: Session) -> None:
        """Decrypt the newest stored key (``HubKeyUnavailable`` if it does not decrypt under
        this secret); nothing to check before the first key."""
        newest = session.scalars(
            select(HubSigningKey).order_by(HubSigningKey.generation.desc()).limit(1)
        ).first()
        if newest is not None:
            self._private_key(session, _view(newest))

    # -- changing -------------------------------------------------------------------------

    def rotate(
        self,
        session: Session,
        alg: SigningAlgorithm | str | None = None,
        now: datetime | None = None,
    ) -> HubKey:
        """Make a new current key (of the profile's default algorithm unless *alg* names
        another of the profile's); the previous stays published, older ones are retired."""
        algorithm = self.default_algorithm if alg is None else SigningAlgorithm(alg)
        if algorithm.value not in self._algorithms:
            raise AlgorithmNotInProfile(
                f"the {self.profile.name!r} crypto profile signs with "
                f"{', '.join(self.profile.jws_algs)}, not {algorithm.value}"
            )
        now = now or clock.now()
        newest = session.scalar(
            select(HubSigningKey.generation).order_by(HubSigningKey.generation.desc()).limit(1)
        )
        generation = (newest or 0) + 1
        created = self._insert(session, algorithm, generation, now)
        if created is None:
            raise KeyRotationConflict(
                "another rotation committed at the same time; list the keys before rotating again"
            )
        session.execute(
            update(HubSigningKey)
            .where(
                HubSigningKey.generation <= generation - _PUBLISHED,
                HubSigningKey.retired_at.is_(None),
            )
            .values(retired_at=now)
        )
        return _view(created)

    def _insert(
        self, session: Session, alg: SigningAlgorithm, generation: int, now: datetime
    ) -> HubSigningKey | None:
        """Insert a fresh key at ``generation``; None if that generation is already taken."""
        private, kept = self._new_key(alg)
        public_jwk = _public_jwk(private)
        kid = _thumbprint(public_jwk)
        sealed = self._aead.encrypt(kept, _associated(kid, alg.value))
        row = HubSigningKey(
            kid=kid,
            generation=generation,
            alg=alg.value,
            public_jwk=public_jwk,
            private_key=sealed,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            return None
        self._private[kid] = private
        self._seen_a_key = True
        return row

    # -- signing and verifying ------------------------------------------------------------

    def sign(self, session: Session, payload: Mapping[str, Any], *, typ: str) -> str:
        """A compact JWS of ``payload`` under the current key, with ``kid`` and ``typ``."""
        key = self.current(session)
        private: Any = self._private_key(session, key)  # an SM2 signer is beyond PyJWT's types
        return jwt.encode(
            dict(payload),
            private,
            algorithm=key.alg,
            headers={"kid": key.kid, "typ": typ},
        )

    def sign_as_validated(self, payload: Mapping[str, Any], *, typ: str) -> str | None:
        """:meth:`sign` without reading the database, under the current key as this process
        last read it (:meth:`published`), when its private key is already decrypted; None
        otherwise. For a request whose token check has just read the keys: a rotation since
        leaves that key published, so what it signs still verifies."""
        published = self._published.remembered(_PUBLISHED_KEYS)
        if published is None or not published[0]:
            return None
        key = published[0][0]
        private: Any = self._private.get(key.kid)
        if private is None:
            return None
        return jwt.encode(
            dict(payload), private, algorithm=key.alg, headers={"kid": key.kid, "typ": typ}
        )

    def verify(
        self,
        session: Session,
        token: str,
        *,
        typ: str,
        audience: str,
        issuer: str,
        require: tuple[str, ...] = ("exp",),
    ) -> dict[str, Any]:
        """The claims of a token signed by the current or previous key, with the expected
        ``typ``, ``aud`` and ``iss``; :class:`Unauthenticated` otherwise. ``iat`` is always
        required, ``exp`` unless ``require`` leaves it out (it is checked whenever present)."""
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("the token is too large")
        asked = (token, typ, audience, issuer, require)
        known = self._known(asked, self.published(session))
        if known is not None:
            return known  # these very bytes verified before; key and time hold
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the token is malformed") from None
        if _media_type(header.get("typ")) != _media_type(typ):
            raise Unauthenticated("the token is not of the expected type")
        keys = {k.kid: k for k in self.published(session)}
        key = keys.get(str(header.get("kid")))
        if key is None:
            raise Unauthenticated("the token is not signed by a published hub key")
        if header.get("alg") != key.alg or key.alg not in self._algorithms:
            raise Unauthenticated("the token's algorithm is not its key's algorithm")
        public = self._public_key(key)  # an SM2 public key is beyond PyJWT's types
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                public,
                algorithms=[key.alg],
                audience=audience,
                issuer=issuer,
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "iat", *require]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is not valid") from None
        with self._verified_lock:
            self._verified[asked] = (dict(claims), key.kid)
            if len(self._verified) > _VERIFIED_TOKENS:
                self._verified.popitem(last=False)
        return claims

    def remembered_claims(
        self,
        token: str,
        *,
        typ: str,
        audience: str,
        issuer: str,
        require: tuple[str, ...] = ("exp",),
    ) -> tuple[dict[str, Any], str] | None:
        """:meth:`verify` from memory only: the claims of a token this process verified
        before, whose key is among the published keys as last read and whose time holds, and
        the keys' stamp they were read under (the caller compares it with the request's before
        relying on them); None when the database must be read."""
        published = self._published.remembered(_PUBLISHED_KEYS)
        if published is None:
            return None
        keys, stamp = published
        known = self._known((token, typ, audience, issuer, require), keys)
        return None if known is None else (known, stamp)

    def _known(self, asked: tuple[Any, ...], published: Sequence[HubKey]) -> dict[str, Any] | None:
        """A copy of the claims of a token verified before with these expectations, if its key
        is among *published* and its time holds; None otherwise."""
        with self._verified_lock:
            seen = self._verified.get(asked)
            if seen is not None:
                self._verified.move_to_end(asked)
        if seen is None:
            return None
        claims, kid = seen
        if kid not in {k.kid for k in published} or not _in_time(claims):
            return None
        return dict(claims)

    def _private_key(self, session: Session, key: HubKey) -> PrivateKey:
        cached = self._private.get(key.kid)
        if cached is not None:
            return cached
        row = session.get(HubSigningKey, key.kid)
        if row is None:
            raise HubKeyUnavailable("the hub's signing key is missing")
        if row.alg not in self._algorithms:
            raise HubKeyUnavailable(
                f"the hub's signing key is {row.alg}, which the {self.profile.name!r} crypto "
                "profile does not sign with"
            )
        try:
            stored = self._aead.decrypt(row.private_key, _associated(row.kid, row.alg))
        except CiphertextInvalid:
            raise HubKeyUnavailable(
                "the hub's signing key does not decrypt; was TONGBAN_SECRET_KEY changed?"
            ) from None
        if stored.startswith(MODULE_HANDLE):
            private = self._module_key(stored, row.public_jwk)
        else:
            private = _load_private(row.alg, stored, row.public_jwk)
        self._private[key.kid] = private
        return private

    def _new_key(self, alg: SigningAlgorithm) -> tuple[PrivateKey, bytes]:
        """A new key and what is sealed of it: its private bytes, or, for an SM2 key made in
        the configured module (docs/gm.md, "A certified module"), the module's label."""
        if alg is not SigningAlgorithm.SM2SM3 or self._module is None:
            private = _generate(alg)
            return private, _private_bytes(private)
        label = f"tongban-hub-key-{secrets.token_hex(8)}"
        signer = module_signer(self._module, label, generate=True)
        return signer, MODULE_HANDLE + label.encode("utf-8")

    def _module_key(self, stored: bytes, public_jwk: Mapping[str, Any]) -> PrivateKey:
        if self._module is None:
            raise HubKeyUnavailable(
                "the hub's signing key is held in an SM2 module, and TONGBAN_SM2_MODULE is unset"
            )
        label = stored[len(MODULE_HANDLE) :].decode("utf-8", errors="replace")
        try:
            expected = Sm2PublicKey.from_jwk(dict(public_jwk))
        except GmKeyInvalid:
            raise HubKeyUnavailable("the hub's SM2 signing key is not a valid SM2 key") from None
        return module_signer(self._module, label, expected=expected)

    def _public_key(self, key: HubKey) -> Any:
        cached = self._public.get(key.kid)
        if cached is None:
            cached = self._public[key.kid] = verifying_key(key.alg, key.jwk())
        return cached


def sm2_module_of(settings: Settings) -> Sm2Module | None:
    """The certified module named by ``sm2_module`` (None: the software signer); refused under
    the ``intl`` profile, whose keys are not SM2."""
    if not settings.sm2_module:
        return None
    if settings.crypto_profile != "gm":
        raise HubKeyUnavailable("TONGBAN_SM2_MODULE is set, and the crypto profile is not gm")
    return load_module(settings.sm2_module)


def verifying_key(alg: str, public_jwk: Mapping[str, Any]) -> Any:
    """What :func:`jwt.decode` verifies a hub signature of *alg* with, from the key's public
    JWK: an :class:`~exchange.security.gm.sm2.Sm2PublicKey` for ``SM2SM3`` (PyJWT's own JWK
    parser has no SM2), a :class:`jwt.PyJWK` bound to *alg* otherwise. Raises
    :class:`jwt.PyJWKError` for a key that is not one."""
    if alg == SigningAlgorithm.SM2SM3:
        try:
            return Sm2PublicKey.from_jwk(dict(public_jwk))
        except GmKeyInvalid as exc:
            raise jwt.PyJWKError(str(exc)) from None
    return jwt.PyJWK(dict(public_jwk), algorithm=alg)


def _in_time(claims: Mapping[str, Any]) -> bool:
    """Whether a token's ``exp``, ``nbf`` and ``iat`` still hold now, with PyJWT's leeway and
    rules; a token that verified once and whose time has not run out verifies again the same
    (anything else goes through the whole verification again, which says why it fails)."""
    now, leeway = clock.now().timestamp(), LEEWAY.total_seconds()
    expires = claims.get("exp")
    if isinstance(expires, int | float) and int(expires) <= now - leeway:  # PyJWT: int(exp)
        return False
    starts = [claims.get("nbf"), claims.get("iat")]
    return not any(isinstance(t, int | float) and int(t) > now + leeway for t in starts)


def _read_published(session: Session, _key: str) -> tuple[HubKey, ...]:
    rows = session.scalars(
        select(HubSigningKey)
        .where(HubSigningKey.retired_at.is_(None))
        .order_by(HubSigningKey.generation.desc())
        .limit(_PUBLISHED)
    ).all()
    return tuple(_view(r) for r in rows)


def _generate(alg: SigningAlgorithm) -> PrivateKey:
    if alg is SigningAlgorithm.SM2SM3:
        return SoftwareSm2Signer.generate()
    if alg is SigningAlgorithm.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    return Ed25519PrivateKey.generate()


def _private_bytes(private: PrivateKey) -> bytes:
    """What is sealed: the SM2 scalar (32 bytes), or the PKCS #8 DER of an Ed25519 or P-256
    key."""
    if isinstance(private, SoftwareSm2Signer):
        return private.private_bytes()
    if isinstance(private, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        return private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    raise HubKeyUnavailable("the hub stores only keys it generated itself")


def _load_private(alg: str, stored: bytes, public_jwk: Mapping[str, Any]) -> PrivateKey:
    """The key pair of a decrypted private key; an SM2 pair is checked to belong together."""
    if alg == SigningAlgorithm.SM2SM3:
        try:
            public = Sm2PublicKey.from_jwk(dict(public_jwk))
            return SoftwareSm2Signer.from_private_bytes(stored, public)
        except GmKeyInvalid:
            raise HubKeyUnavailable("the hub's SM2 signing key is not its public key's") from None
    private = serialization.load_der_private_key(stored, password=None)
    if not isinstance(private, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise HubKeyUnavailable("the hub's signing key has an unexpected type")
    return private


def _public_jwk(private: PrivateKey) -> dict[str, str]:
    if isinstance(private, Ed25519PrivateKey):
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64(private.public_key().public_bytes_raw())}
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        return private.public_key.to_jwk()
    numbers = private.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }


def _thumbprint(public_jwk: dict[str, str]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256), used as the kid."""
    canonical = json.dumps(public_jwk, sort_keys=True, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _associated(kid: str, alg: str) -> bytes:
    return f"tongban-hub-key\n{kid}\n{alg}".encode()


def _media_type(value: object) -> str:
    return str(value).lower().removeprefix("application/")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
