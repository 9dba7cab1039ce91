"""The hub's key store under the gm profile: SM2 keys generated, sealed with SM4-GCM, published
in the JWKS as ``crv: SM2``/``alg: SM2SM3``, signing and verifying ``SM2SM3`` tokens, and no
algorithm confusion between the profiles."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from sqlalchemy.orm import Session, sessionmaker

from exchange.db import unit_of_work
from exchange.errors import Unauthenticated
from exchange.security.errors import HubKeyUnavailable
from exchange.security.gm import GM, Sm2PublicKey, SoftwareSm2Signer
from exchange.security.gm.errors import AlgorithmNotInProfile
from exchange.security.gm.jws import ALG
from exchange.security.keys import HubKeys
from exchange.security.models import HubSigningKey
from exchange.security.secrets import KeySchedule, KeyUse
from exchange.settings import Settings

ISSUER = "https://hub.example"
AUDIENCE = "tongban-exchange"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "iat": now}
    claims["exp"] = now + 300
    claims.update(overrides)
    return claims


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def gm_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"crypto_profile": "gm"})


def _sign(sessions: sessionmaker[Session], keys: HubKeys, **claims: Any) -> str:
    with unit_of_work(sessions, write=True) as session:
        return keys.sign(session, _claims(**claims), typ="at+jwt")


def _verify(sessions: sessionmaker[Session], keys: HubKeys, token: str) -> dict[str, Any]:
    with unit_of_work(sessions) as session:
        return keys.verify(session, token, typ="at+jwt", audience=AUDIENCE, issuer=ISSUER)


def test_a_gm_hub_signs_sm2sm3_and_publishes_an_sm2_jwk(
    sessions: sessionmaker[Session], gm_settings: Settings
) -> None:
    keys = HubKeys(gm_settings)
    token = _sign(sessions, keys)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == ALG == "SM2SM3"
    with unit_of_work(sessions) as session:
        (published,) = keys.jwks(session)["keys"]
    assert (published["kty"], published["crv"]) == ("EC", "SM2")
    assert (published["alg"], published["use"]) == ("SM2SM3", "sig")
    assert published["kid"] == header["kid"]
    assert "d" not in published
    # the signature is raw r ‖ s under the published key, over header.payload
    signing_input, _, signature = token.rpartition(".")
    Sm2PublicKey.from_jwk(published).verify(_unb64(signature), signing_input.encode())
    assert _verify(sessions, keys, token)["sub"] == "s"
    # a second process (no key in memory) decrypts the stored key and verifies too
    assert _verify(sessions, HubKeys(gm_settings), token)["sub"] == "s"
    assert _verify(sessions, HubKeys(gm_settings), _sign(sessions, HubKeys(gm_settings)))


def test_the_stored_sm2_key_is_sealed_with_sm4_gcm(
    sessions: sessionmaker[Session], gm_settings: Settings
) -> None:
    keys = HubKeys(gm_settings)
    _sign(sessions, keys)
    with unit_of_work(sessions) as session:
        row = session.query(HubSigningKey).one()
        blob, kid, alg = bytes(row.private_key), row.kid, row.alg
    assert alg == "SM2SM3"
    secret = gm_settings.secret_key.get_secret_value()
    wrapping = KeySchedule(secret, GM).key(KeyUse.HUB_KEYS_AT_REST)[:16]
    scalar = GM.aead(wrapping).decrypt(blob, f"tongban-hub-key\n{kid}\n{alg}".encode())
    assert len(blob) == 12 + 32 + 16  # nonce ‖ SM4-GCM(32-byte scalar) ‖ tag
    signer = SoftwareSm2Signer.from_private_bytes(scalar, Sm2PublicKey.from_jwk(row.public_jwk))
    assert signer.public_key.to_jwk()["x"] == row.public_jwk["x"]


def test_a_gm_hub_with_another_secret_cannot_use_the_key(
    sessions: sessionmaker[Session], gm_settings: Settings
) -> None:
    _sign(sessions, HubKeys(gm_settings))
    other = gm_settings.model_copy(update={"secret_key": type(gm_settings.secret_key)("x" * 40)})
    with pytest.raises(HubKeyUnavailable):
        _sign(sessions, HubKeys(other))


def test_the_verified_token_cache_works_under_gm(
    sessions: sessionmaker[Session], gm_settings: Settings
) -> None:
    keys = HubKeys(gm_settings)
    token = _sign(sessions, keys)
    _verify(sessions, keys, token)
    remembered = keys.remembered_claims(token, typ="at+jwt", audience=AUDIENCE, issuer=ISSUER)
    assert remembered is not None
    assert remembered[0]["sub"] == "s"
    assert keys.sign_as_validated(_claims(), typ="evidence+jwt") is not None


def test_a_gm_hub_refuses_tokens_of_the_intl_algorithms(
    sessions: sessionmaker[Session], gm_settings: Settings
) -> None:
    keys = HubKeys(gm_settings)
    good = _sign(sessions, keys)
    kid = jwt.get_unverified_header(good)["kid"]
    # an EdDSA token naming the gm key's kid, whatever key signed it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = jwt.encode(
        _claims(),
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": kid, "typ": "at+jwt"},
    )
    with pytest.raises(Unauthenticated, match="algorithm"):
        _verify(sessions, keys, forged)
    # the real SM2 signature under a header that says ES256
    header, payload, signature = good.split(".")
    relabelled = json.loads(_unb64(header)) | {"alg": "ES256"}
    swapped = f"{_b64(json.dumps(relabelled).encode())}.{payload}.{signature}"
    with pytest.raises(Unauthenticated, match="algorithm"):
        _verify(sessions, keys, swapped)
    # and a rotation to an intl algorithm is refused
    refused = pytest.raises(AlgorithmNotInProfile, match="gm")
    with unit_of_work(sessions, write=True) as session, refused:
        keys.rotate(session, "EdDSA")


def test_an_intl_hub_refuses_an_sm2sm3_token(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    keys = HubKeys(settings.model_copy(update={"crypto_profile": "intl"}))  # whatever the suite's
    good = _sign(sessions, keys)
    assert jwt.get_unverified_header(good)["alg"] == "EdDSA"
    kid = jwt.get_unverified_header(good)["kid"]
    sm2: Any = SoftwareSm2Signer.generate()
    forged = jwt.encode(
        _claims(),
        sm2,
        algorithm="SM2SM3",
        headers={"kid": kid, "typ": "at+jwt"},
    )
    with pytest.raises(Unauthenticated, match="algorithm"):
        _verify(sessions, keys, forged)
    refused = pytest.raises(AlgorithmNotInProfile, match="intl")
    with unit_of_work(sessions, write=True) as session, refused:
        keys.rotate(session, "SM2SM3")


def test_a_tampered_sm2sm3_token_is_refused(
    sessions: sessionmaker[Session], gm_settings: Settings
) -> None:
    keys = HubKeys(gm_settings)
    token = _sign(sessions, keys)
    header, payload, signature = token.split(".")
    other = _b64(json.dumps(_claims(sub="someone-else")).encode())
    with pytest.raises(Unauthenticated, match="not valid"):
        _verify(sessions, keys, f"{header}.{other}.{signature}")
    raw = bytearray(_unb64(signature))
    raw[10] ^= 1
    with pytest.raises(Unauthenticated, match="not valid"):
        _verify(sessions, keys, f"{header}.{payload}.{_b64(bytes(raw))}")
    with pytest.raises(Unauthenticated, match="expired"):
        _verify(sessions, keys, _sign(sessions, keys, exp=int(time.time()) - 3600))


def test_a_gm_hub_rotates_to_a_new_sm2_key_and_keeps_the_previous(
    sessions: sessionmaker[Session], gm_settings: Settings
) -> None:
    keys = HubKeys(gm_settings)
    before = _sign(sessions, keys)
    with unit_of_work(sessions, write=True) as session:
        rotated = keys.rotate(session)
    assert (rotated.alg, rotated.generation) == ("SM2SM3", 2)
    after = _sign(sessions, keys)
    assert jwt.get_unverified_header(after)["kid"] == rotated.kid
    assert _verify(sessions, keys, before)["sub"] == _verify(sessions, keys, after)["sub"]
