"""The JWS algorithm ``SM2SM3`` (SM2 with SM3 and the distinguishing ID 1234567812345678, the
signature raw ``r ‖ s``), registered with PyJWT.

PyJWT has no SM2. Registering one :class:`Sm2Sm3` algorithm with PyJWT's
:func:`jwt.register_algorithm` (at this module's import, once per process) rather than signing and
verifying compact JWS in a module of our own keeps **one** path for every JWS the hub makes or
checks: the same header parsing, base64url rules, ``typ``/``kid`` checks and claim validation
(``exp``, ``nbf``, ``iat``, ``aud``, ``iss``, ``require``, leeway) as for EdDSA and ES256, which
PyJWT has been tested on for years; only the signature itself is ours, and it is the
:mod:`~exchange.security.gm.sm2` code already proven against OpenSSL and sm-crypto.

Registration only makes the name known. No caller accepts ``SM2SM3`` unless it passes it in
``algorithms=[...]``, which the hub's verifiers do only for a key whose own algorithm is
``SM2SM3`` (the key decides, never the header). :meth:`Sm2Sm3.prepare_key` accepts nothing but an
SM2 key (a :class:`~exchange.security.gm.sm2.Sm2PublicKey`, an
:class:`~exchange.security.gm.sm2.Sm2Signer` or an SM2 public JWK), so no Ed25519, P-256 or HMAC
key can stand behind an ``SM2SM3`` header, and no SM2 key behind another algorithm's.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Final

import jwt
from jwt.algorithms import Algorithm
from jwt.exceptions import InvalidKeyError

from exchange.security.gm.errors import GmKeyInvalid, GmSignatureInvalid
from exchange.security.gm.sm2 import Sm2PublicKey, Sm2Signer

__all__ = ["ALG", "Sm2Sm3", "is_sm2_signer", "register"]

ALG: Final = "SM2SM3"


class Sm2Sm3(Algorithm):
    """``SM2SM3``: signs with an :class:`Sm2Signer`, verifies with an :class:`Sm2PublicKey`."""

    def prepare_key(self, key: Any) -> Sm2PublicKey | Sm2Signer:
        if isinstance(key, Sm2PublicKey):
            return key
        if is_sm2_signer(key):
            signer: Sm2Signer = key
            return signer
        if isinstance(key, dict):
            try:
                return Sm2PublicKey.from_jwk(key)
            except GmKeyInvalid as exc:
                raise InvalidKeyError(str(exc)) from None
        raise InvalidKeyError("SM2SM3 needs an SM2 key")

    def sign(self, msg: bytes, key: Any) -> bytes:
        if not is_sm2_signer(key):
            raise InvalidKeyError("SM2SM3 signs only with an SM2 private key")
        signature: bytes = key.sign(msg)
        return signature

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        public = key.public_key if is_sm2_signer(key) else key
        if not isinstance(public, Sm2PublicKey):
            return False
        try:
            public.verify(sig, msg)
        except GmSignatureInvalid:
            return False
        return True

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        public = key_obj.public_key if is_sm2_signer(key_obj) else key_obj
        if not isinstance(public, Sm2PublicKey):
            raise InvalidKeyError("not an SM2 key")
        jwk = {**public.to_jwk(), "alg": ALG}
        return jwk if as_dict else json.dumps(jwk)

    @staticmethod
    def from_jwk(jwk: Any) -> Sm2PublicKey:
        try:
            document = json.loads(jwk) if isinstance(jwk, str) else jwk
        except ValueError:
            raise InvalidKeyError("the JWK is not JSON") from None
        if not isinstance(document, dict):
            raise InvalidKeyError("the JWK is not an object")
        try:
            return Sm2PublicKey.from_jwk(document)
        except GmKeyInvalid as exc:
            raise InvalidKeyError(str(exc)) from None


def is_sm2_signer(key: object) -> bool:
    """Whether *key* is an :class:`Sm2Signer`: its ``public_key`` is an SM2 public key. (The
    Protocol's ``isinstance`` alone only checks that the names exist, and an Ed25519 or P-256
    private key of ``cryptography`` has a ``sign`` and a ``public_key`` too.)"""
    return isinstance(key, Sm2Signer) and isinstance(getattr(key, "public_key", None), Sm2PublicKey)


def register() -> None:
    """Make ``SM2SM3`` known to PyJWT's module-level ``encode``/``decode`` (idempotent)."""
    with contextlib.suppress(ValueError):  # registered already (e.g. a reload of this module)
        jwt.register_algorithm(ALG, Sm2Sm3())


register()
