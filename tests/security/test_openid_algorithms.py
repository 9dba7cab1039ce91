"""Which signatures of an OpenID provider's ID tokens the hub takes (exchange/security/identity.py
with exchange/security/provider_keys.py): RS256 and PS256 with an RSA key of 2048 bits or more,
ES256 and EdDSA as before; never ``none`` or HMAC, so an RSA public key cannot be used as an HMAC
secret (algorithm confusion); a header whose algorithm is not its key's is refused.

The provider here is trusted through a JWKS file (``TONGBAN_IDP_JWKS_FILE``), its tokens built
with PyJWT; the same refusals against a real provider's JWKS URL are in tests/oidc/."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from exchange.errors import Unauthenticated
from exchange.security.identity import IdentityProviders, Role
from exchange.settings import Settings

ISSUER = "https://idp.example.gov.cn"
CLIENT_ID = "tongban-console"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(private, rsa.RSAPrivateKey) else ECAlgorithm
    return {**algorithm.to_jwk(private.public_key(), as_dict=True), "kid": kid}


def _identity(tmp_path: Path, *keys: dict[str, Any]) -> IdentityProviders:
    jwks = tmp_path / "idp-jwks.json"
    jwks.write_text(json.dumps({"keys": list(keys)}), "utf-8")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        mode="dev",
        adapters_file=None,
        idp_issuer=ISSUER,
        idp_jwks_file=jwks,
        idp_client_id=CLIENT_ID,
    )
    return IdentityProviders(settings)


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "AUD-0007",
        "role": "auditor",
        "iat": now,
        "exp": now + 600,
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_token(secret: bytes, alg: str, kid: str) -> str:
    """A token "signed" with HMAC keyed by ``secret`` (PyJWT refuses to build one with a
    public key, rightly; an attacker does it by hand)."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signature = hmac.new(secret, f"{header}.{payload}".encode(), digest).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _refusal(identity: IdentityProviders, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        identity.verify(token)
    return refused.value.detail


def test_rs256_and_ps256_tokens_of_an_rsa_key_sign_people_in(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    identity = _identity(tmp_path, _jwk(rsa_key, "rsa-1"))
    for alg in ("RS256", "PS256"):
        token = jwt.encode(_claims(), rsa_key, algorithm=alg, headers={"kid": "rsa-1"})
        principal = identity.verify(token)
        assert (principal.subject, principal.role, principal.issuer) == (
            "AUD-0007",
            Role.AUDITOR,
            ISSUER,
        )


def test_an_hmac_token_keyed_with_the_rsa_public_key_is_refused(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwk = _jwk(rsa_key, "rsa-1")
    identity = _identity(tmp_path, jwk)
    public = rsa_key.public_key()
    secrets = {  # every form of the public key a verifier might hand HMAC as its "secret"
        "PEM": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "PKCS1 PEM": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ),
        "DER": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "JWK": json.dumps(jwk).encode(),
        "n": base64.urlsafe_b64decode(jwk["n"] + "=="),
    }
    for alg in ("HS256", "HS384", "HS512"):
        for secret in secrets.values():
            token = _hmac_token(secret, alg, "rsa-1")
            assert _refusal(identity, token) == (
                f"the token's algorithm ({alg}) is not one the hub accepts from its issuer"
            )
    unsigned = _b64(b'{"alg":"none","kid":"rsa-1"}') + "." + _b64(json.dumps(_claims()).encode())
    assert (
        _refusal(identity, unsigned + ".")
        == "the token's algorithm (none) is not one the hub accepts from its issuer"
    )
    # The same claims signed with the RSA key itself are taken: only the algorithm was wrong.
    signed = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    assert identity.verify(signed).role is Role.AUDITOR


def test_a_header_whose_algorithm_is_not_its_keys_is_refused(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    identity = _identity(
        tmp_path, {**_jwk(rsa_key, "rs256-only"), "alg": "RS256"}, _jwk(ec_key, "ec-1")
    )
    pss = jwt.encode(_claims(), rsa_key, algorithm="PS256", headers={"kid": "rs256-only"})
    assert _refusal(identity, pss) == "the token's algorithm is not its key's"
    # An RSA signature presented under the EC key's id, and an EC one under the RSA key's.
    rsa_under_ec = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "ec-1"})
    assert _refusal(identity, rsa_under_ec) == "the token's algorithm is not its key's"
    ec_under_rsa = jwt.encode(_claims(), ec_key, algorithm="ES256", headers={"kid": "rs256-only"})
    assert _refusal(identity, ec_under_rsa) == "the token's algorithm is not its key's"
    assert identity.verify(
        jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "rs256-only"})
    )


def test_a_token_of_an_rsa_key_below_2048_bits_is_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (refused)
    identity = _identity(tmp_path, _jwk(weak, "weak"))
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = jwt.encode(_claims(), weak, algorithm="RS256", headers={"kid": "weak"})
    assert _refusal(identity, token) == (
        "the token's signing key is an RSA key of 1024 bits; "
        "the hub accepts RSA keys of 2048 bits or more"
    )
