"""A gm peer's keys (SM2, docs/gm.md) in the federation code, without a network: this hub signs
its client assertions at a gm peer with an SM2 key file, and checks a gm peer's JWS (evidence,
events) against the SM2 key it pinned, with the same checks, in the same order, as for Ed25519.
The two-hub tests run the whole of it under ``TONGBAN_TEST_CRYPTO_PROFILE=gm``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from exchange.federation.evidence import EVENT_TYP, OriginUnverifiable, PinnedKeys, _signed_claims
from exchange.federation.relay import private_jwk
from exchange.security.gm import Sm2PublicKey
from tests.profiles import sm2_private_jwk

ISSUER = "https://province.example"


def _public(jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k != "d"}


def _signed(tmp_path: Path, claims: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A JWS signed with a fresh SM2 key read back from its key file, and that key's JWK."""
    jwk = sm2_private_jwk("p1")
    path = tmp_path / "p1.jwk"
    path.write_text(json.dumps(jwk), "utf-8")
    alg, key, kid = private_jwk(path)
    assert (alg, kid) == ("SM2SM3", "p1")
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": EVENT_TYP}), jwk


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": "city-hub", "iat": now, "jti": "evt-1"}


def test_a_gm_peers_jws_verifies_against_its_pinned_sm2_key(tmp_path: Path) -> None:
    token, jwk = _signed(tmp_path, _claims())
    keys = PinnedKeys(ISSUER, {"keys": [_public(jwk)]}, "")
    claims = _signed_claims(token, keys, "city-hub", EVENT_TYP)
    assert claims["jti"] == "evt-1"
    key, alg = keys.evidence_key("p1")
    assert isinstance(key, Sm2PublicKey)
    assert alg == "SM2SM3"


def test_a_gm_peers_jws_by_another_sm2_key_or_altered_is_refused(tmp_path: Path) -> None:
    token, jwk = _signed(tmp_path, _claims())
    other = {**_public(sm2_private_jwk("p1")), "kid": "p1"}  # same kid, another key
    with pytest.raises(OriginUnverifiable, match="signature does not verify"):
        _signed_claims(token, PinnedKeys(ISSUER, {"keys": [other]}, ""), "city-hub", EVENT_TYP)
    head, body, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    keys = PinnedKeys(ISSUER, {"keys": [_public(jwk)]}, "")
    with pytest.raises(OriginUnverifiable):
        _signed_claims(f"{head}.{body}.{flipped}", keys, "city-hub", EVENT_TYP)
    with pytest.raises(OriginUnverifiable, match="claims do not hold"):
        _signed_claims(token, keys, "another-hub", EVENT_TYP)  # not for this hub


def test_an_sm2_key_cannot_stand_behind_another_algorithm(tmp_path: Path) -> None:
    """The pinned key decides the algorithm, never the header: an EdDSA header over a gm peer's
    kid is refused before any signature is checked."""
    token, jwk = _signed(tmp_path, _claims())
    _, body, signature = token.split(".")
    forged_header = jwt.utils.base64url_encode(
        json.dumps({"alg": "EdDSA", "kid": "p1", "typ": EVENT_TYP}).encode()
    ).decode()
    keys = PinnedKeys(ISSUER, {"keys": [_public(jwk)]}, "")
    with pytest.raises(OriginUnverifiable, match="alg is not its pinned key's algorithm"):
        _signed_claims(f"{forged_header}.{body}.{signature}", keys, "city-hub", EVENT_TYP)
