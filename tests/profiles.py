"""The crypto profile the suite runs under (docs/gm.md, docs/testing.md), and the case systems'
keys of that profile.

``TONGBAN_TEST_CRYPTO_PROFILE=gm`` runs the whole suite under the national-cryptography
profile: ``tests/conftest.py`` sets ``TONGBAN_CRYPTO_PROFILE`` for every in-process hub,
:func:`tests.servers.hub_environment` passes it to every ``tongban`` subprocess, and the case
systems the tests register (:mod:`tests.factories`) hold SM2 keys and sign their client
assertions ``SM2SM3``, as the demo's do under ``gm``. Unset, or
``intl``, the suite runs as it always has (Ed25519 keys, ``EdDSA`` assertions).

A test that checks a fact true of one profile by definition (an RFC 9162 SHA-256 vector, an
Ed25519 key type) says so with :func:`only_under`, naming why; anything else is expected to
pass under both.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Final, Literal

import pytest

__all__ = [
    "CLIENT_ALG",
    "GM",
    "HUB_ALG",
    "PROFILE",
    "PROFILE_ENV",
    "TREE_HASH",
    "client_private_jwk",
    "key_schedule",
    "only_under",
    "sm2_private_jwk",
    "sm2_signer",
    "stranger",
    "verifying_key",
]

PROFILE_ENV: Final = "TONGBAN_TEST_CRYPTO_PROFILE"


def _profile() -> Literal["intl", "gm"]:
    value = os.environ.get(PROFILE_ENV, "intl") or "intl"
    if value == "gm":
        return "gm"
    if value == "intl":
        return "intl"
    raise pytest.UsageError(f"{PROFILE_ENV} is intl or gm, not {value!r}")


PROFILE: Final = _profile()
"""``intl`` (the default) or ``gm``: the profile of every hub the tests build."""
GM: Final = PROFILE == "gm"
CLIENT_ALG: Final = "SM2SM3" if GM else "EdDSA"
"""The algorithm of the case systems' keys the tests make (factories, demo worlds)."""
TREE_HASH: Final = "sm3" if GM else "sha256"
"""``hashlib``'s name of the audit tree's hash (RFC 9162 §2.1.1 with SM3 under ``gm``),
for tests that compute a leaf or node hash themselves."""
HUB_ALG: Final = "SM2SM3" if GM else "EdDSA"
"""The algorithm a new hub signs with (its first key, a rotation that names none)."""


def only_under(profile: Literal["intl", "gm"], why: str) -> pytest.MarkDecorator:
    """Run a test under *profile* only, because what it checks is that profile's by
    definition (*why* says which fact); reported as skipped under the other profile."""
    return pytest.mark.skipif(profile != PROFILE, reason=f"{profile} profile only: {why}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sm2_private_jwk(kid: str) -> dict[str, Any]:
    """A fresh SM2 key pair as a private JWK (``"crv": "SM2"`` with ``d``, ``alg``
    ``SM2SM3``), the form the demo writes a case system's key in."""
    from exchange.security.gm import SoftwareSm2Signer

    signer = SoftwareSm2Signer.generate()
    public = signer.public_key.to_jwk()
    return {**public, "alg": "SM2SM3", "use": "sig", "kid": kid, "d": _b64(signer.private_bytes())}


def sm2_signer(private_jwk: dict[str, Any]) -> Any:
    """The :class:`~exchange.security.gm.SoftwareSm2Signer` of an SM2 private JWK."""
    from exchange.security.gm import Sm2PublicKey, SoftwareSm2Signer

    public = Sm2PublicKey.from_jwk({k: v for k, v in private_jwk.items() if k != "d"})
    return SoftwareSm2Signer.from_private_bytes(_unb64(private_jwk["d"]), public)


def _ed25519_private_jwk(kid: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": kid,
        "x": _b64(key.public_key().public_bytes_raw()),
        "d": _b64(key.private_bytes_raw()),
    }


def client_private_jwk(kid: str) -> dict[str, Any]:
    """A fresh case system's private JWK of the suite's profile: SM2 under ``gm``, Ed25519
    under ``intl``."""
    return sm2_private_jwk(kid) if GM else _ed25519_private_jwk(kid)


def verifying_key(jwk: dict[str, Any]) -> Any:
    """What PyJWT's ``jwt.decode`` verifies a signature of the published public *jwk* with:
    PyJWT's own key for Ed25519 and P-256, an :class:`~exchange.security.gm.Sm2PublicKey` for
    an SM2 key (``SM2SM3``, registered with PyJWT by ``exchange.security.gm.jws``; PyJWT's
    ``PyJWK`` knows no SM2)."""
    import jwt

    if jwk.get("crv") == "SM2":
        from exchange.security.gm import Sm2PublicKey

        return Sm2PublicKey.from_jwk({k: v for k, v in jwk.items() if k != "d"})
    return jwt.PyJWK(jwk)


def stranger() -> tuple[Any, str]:
    """A fresh private key nobody registered, of the suite's profile, and its JWS algorithm,
    for ``jwt.encode``: an SM2 signer (``SM2SM3``) under ``gm``, Ed25519 (``EdDSA``) under
    ``intl``."""
    if GM:
        from exchange.security.gm import SoftwareSm2Signer

        return SoftwareSm2Signer.generate(), "SM2SM3"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate(), "EdDSA"


def key_schedule(secret: str) -> Any:
    """The :class:`~exchange.security.secrets.KeySchedule` of *secret* under the suite's
    profile, for tests that build a hub's parts (a checkpoint signer, pseudonyms) by hand."""
    from exchange.security.gm import profile_named
    from exchange.security.secrets import KeySchedule

    return KeySchedule(secret, profile_named(PROFILE))
