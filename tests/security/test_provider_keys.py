"""The OpenID provider's keys as the hub holds them (exchange/security/provider_keys.py): cached
for their lifetime, fetched again when a token names a key the set lacks (a rotation), never more
than once per interval however many unknown key ids arrive, kept when the provider is briefly
down; what cannot be found is a 401 that says so. A token is verified only with an algorithm the
provider advertises and the hub accepts (never ``none`` or HMAC) that its key may verify, and an
RSA key only of 2048 bits or more. A clock and a fetch the test controls."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from exchange.errors import Unauthenticated
from exchange.security.provider_keys import ACCEPTED_ALGORITHMS, ProviderKeys, keys_of

URL = "https://idp.example.gov.cn/jwks"


def _ec(kid: str) -> dict[str, Any]:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return {**ECAlgorithm.to_jwk(public, as_dict=True), "kid": kid}


class Provider:
    """The provider's JWKS URL: its current keys, how often it was asked, whether it is up."""

    def __init__(self, *kids: str) -> None:
        self.keys = [_ec(kid) for kid in kids]
        self.asked = 0
        self.up = True

    def fetch(self, url: str) -> Mapping[str, Any]:
        assert url == URL
        self.asked += 1
        if not self.up:
            raise Unauthenticated("the identity provider could not be reached")
        return {"keys": list(self.keys)}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _keys(provider: Provider, clock: Clock) -> ProviderKeys:
    return ProviderKeys(
        lambda: URL,
        provider.fetch,
        algorithms=lambda: ACCEPTED_ALGORITHMS,
        max_age_s=300,
        refetch_interval_s=30,
        clock=clock,
    )


def test_keys_are_fetched_once_and_used_for_their_lifetime() -> None:
    provider, clock = Provider("k1"), Clock()
    keys = _keys(provider, clock)
    for _ in range(5):
        assert keys.key("k1", "ES256").algorithm_name == "ES256"
        clock.now += 59
    assert provider.asked == 1
    clock.now += 10  # past 300 s
    keys.key("k1", "ES256")
    assert provider.asked == 2


def test_a_rotated_key_is_fetched_when_a_token_first_names_it() -> None:
    provider, clock = Provider("k1"), Clock()
    keys = _keys(provider, clock)
    keys.key("k1", "ES256")
    provider.keys = [_ec("k2")]  # the provider rotates
    clock.now += 31
    assert keys.key("k2", "ES256").algorithm_name == "ES256"
    assert provider.asked == 2
    with pytest.raises(Unauthenticated, match="not among the provider's keys"):
        keys.key("k1", "ES256")  # withdrawn: refused (and no fetch, the interval has not passed)
    assert provider.asked == 2


def test_a_flood_of_unknown_key_ids_asks_the_provider_once_per_interval() -> None:
    provider, clock = Provider("k1"), Clock()
    keys = _keys(provider, clock)
    keys.key("k1", "ES256")
    clock.now += 30
    for n in range(1000):
        with pytest.raises(Unauthenticated, match="not among the provider's keys"):
            keys.key(f"made-up-{n}", "ES256")
        clock.now += 0.01  # ten seconds in all
    assert provider.asked == 2  # the first fetch, and one for the whole flood
    clock.now += 30
    with pytest.raises(Unauthenticated):
        keys.key("made-up-again", "ES256")
    assert provider.asked == 3


def test_a_provider_that_is_briefly_down_keeps_its_last_keys() -> None:
    provider, clock = Provider("k1"), Clock()
    keys = _keys(provider, clock)
    keys.key("k1", "ES256")
    provider.up = False
    clock.now += 301  # the keys are due, the provider does not answer
    assert keys.key("k1", "ES256").algorithm_name == "ES256"
    assert keys.key("k1", "ES256") is not None
    assert provider.asked == 2  # not retried on every request


def test_keys_that_were_never_fetched_are_a_401_that_says_so() -> None:
    provider, clock = Provider("k1"), Clock()
    provider.up = False
    keys = _keys(provider, clock)
    with pytest.raises(Unauthenticated, match="could not be reached"):
        keys.key("k1", "ES256")
    with pytest.raises(Unauthenticated, match="could not be fetched"):
        keys.key("k1", "ES256")  # within the interval: not asked again
    assert provider.asked == 1
    provider.up = True
    clock.now += 30
    assert keys.key("k1", "ES256").algorithm_name == "ES256"


def _rsa(kid: str, bits: int = 2048, **members: str) -> dict[str, Any]:
    public = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return {**RSAAlgorithm.to_jwk(public, as_dict=True), "kid": kid, **members}


def test_only_signing_keys_of_an_accepted_algorithm_are_kept() -> None:
    ed = OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate().public_key(), as_dict=True)
    p384 = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), as_dict=True)
    document = {
        "keys": [
            {**_ec("ec"), "use": "sig"},
            {**ed, "kid": "ed"},
            _rsa("rsa"),
            _rsa("rsa-pss", alg="PS256"),
            _rsa("rs512", alg="RS512"),
            {**p384, "kid": "p384"},
            {**_ec("enc"), "use": "enc"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
            _ec("") | {"kid": 7},
            "not a key",
        ]
    }
    kept = keys_of(document)
    assert {kid: key.algorithm_name for kid, key in kept.items()} == {
        "ec": "ES256",
        "ed": "EdDSA",
        "rsa": "RS256",
        "rsa-pss": "PS256",
    }
    assert isinstance(kept["ec"], jwt.PyJWK)


def test_an_rsa_key_verifies_rs256_and_ps256_unless_it_names_one() -> None:
    provider, clock = Provider(), Clock()
    provider.keys = [_rsa("any"), _rsa("rs", alg="RS256"), _ec("ec")]
    keys = _keys(provider, clock)
    assert keys.key("any", "RS256").algorithm_name == "RS256"
    assert keys.key("any", "PS256").algorithm_name == "PS256"
    assert keys.key("rs", "RS256").algorithm_name == "RS256"
    for kid, alg in [("rs", "PS256"), ("ec", "RS256"), ("any", "ES256"), ("ec", "EdDSA")]:
        with pytest.raises(Unauthenticated) as refused:
            keys.key(kid, alg)
        assert refused.value.detail == "the token's algorithm is not its key's"
    assert provider.asked == 1


def test_an_rsa_key_below_2048_bits_is_refused_and_named_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, clock = Provider(), Clock()
    provider.keys = [_rsa("weak", bits=1024), _rsa("strong", bits=2048)]
    keys = _keys(provider, clock)
    with (
        caplog.at_level(logging.WARNING, logger="tongban.security"),
        pytest.raises(Unauthenticated) as refused,
    ):
        keys.key("weak", "RS256")
    assert refused.value.detail == (
        "the token's signing key is an RSA key of 1024 bits; "
        "the hub accepts RSA keys of 2048 bits or more"
    )
    (record,) = caplog.records
    assert record.getMessage() == (
        "the identity provider publishes RSA key 'weak' of 1024 bits: the hub refuses the "
        "tokens it signs (RSA keys need 2048 bits or more)"
    )
    assert keys.key("strong", "RS256").algorithm_name == "RS256"


def test_only_what_the_provider_advertises_and_the_hub_accepts_is_verified() -> None:
    provider, clock = Provider(), Clock()
    provider.keys = [_rsa("rsa")]
    advertised = {"RS256", "HS256", "none"}  # a provider that would sign with anything
    keys = ProviderKeys(
        lambda: URL,
        provider.fetch,
        algorithms=lambda: advertised,
        max_age_s=300,
        refetch_interval_s=30,
        clock=clock,
    )
    for alg, shown in [("PS256", "PS256"), ("HS256", "HS256"), ("none", "none"), (None, "unknown")]:
        with pytest.raises(Unauthenticated) as refused:
            keys.key("rsa", alg)
        assert (
            refused.value.detail
            == f"the token's algorithm ({shown}) is not one the hub accepts from its issuer"
        )
    assert provider.asked == 0  # refused before the keys were even fetched
    assert keys.key("rsa", "RS256").algorithm_name == "RS256"
