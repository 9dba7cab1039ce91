"""The OpenID provider's keys as the hub holds them (exchange/security/provider_keys.py): cached
for their lifetime, fetched again when a token names a key the set lacks (a rotation), never more
than once per interval however many unknown key ids arrive, kept when the provider is briefly
down; what cannot be found is a 401 that says so. A clock and a fetch the test controls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from exchange.errors import Unauthenticated
from exchange.security.provider_keys import ProviderKeys, keys_of

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
        lambda: URL, provider.fetch, max_age_s=300, refetch_interval_s=30, clock=clock
    )


def test_keys_are_fetched_once_and_used_for_their_lifetime() -> None:
    provider, clock = Provider("k1"), Clock()
    keys = _keys(provider, clock)
    for _ in range(5):
        assert keys.key("k1").algorithm_name == "ES256"
        clock.now += 59
    assert provider.asked == 1
    clock.now += 10  # past 300 s
    keys.key("k1")
    assert provider.asked == 2


def test_a_rotated_key_is_fetched_when_a_token_first_names_it() -> None:
    provider, clock = Provider("k1"), Clock()
    keys = _keys(provider, clock)
    keys.key("k1")
    provider.keys = [_ec("k2")]  # the provider rotates
    clock.now += 31
    assert keys.key("k2").algorithm_name == "ES256"
    assert provider.asked == 2
    with pytest.raises(Unauthenticated, match="not among the provider's keys"):
        keys.key("k1")  # withdrawn: refused (and no fetch, the interval has not passed)
    assert provider.asked == 2


def test_a_flood_of_unknown_key_ids_asks_the_provider_once_per_interval() -> None:
    provider, clock = Provider("k1"), Clock()
    keys = _keys(provider, clock)
    keys.key("k1")
    clock.now += 30
    for n in range(1000):
        with pytest.raises(Unauthenticated, match="not among the provider's keys"):
            keys.key(f"made-up-{n}")
        clock.now += 0.01  # ten seconds in all
    assert provider.asked == 2  # the first fetch, and one for the whole flood
    clock.now += 30
    with pytest.raises(Unauthenticated):
        keys.key("made-up-again")
    assert provider.asked == 3


def test_a_provider_that_is_briefly_down_keeps_its_last_keys() -> None:
    provider, clock = Provider("k1"), Clock()
    keys = _keys(provider, clock)
    keys.key("k1")
    provider.up = False
    clock.now += 301  # the keys are due, the provider does not answer
    assert keys.key("k1").algorithm_name == "ES256"
    assert keys.key("k1") is not None
    assert provider.asked == 2  # not retried on every request


def test_keys_that_were_never_fetched_are_a_401_that_says_so() -> None:
    provider, clock = Provider("k1"), Clock()
    provider.up = False
    keys = _keys(provider, clock)
    with pytest.raises(Unauthenticated, match="could not be reached"):
        keys.key("k1")
    with pytest.raises(Unauthenticated, match="could not be fetched"):
        keys.key("k1")  # within the interval: not asked again
    assert provider.asked == 1
    provider.up = True
    clock.now += 30
    assert keys.key("k1").algorithm_name == "ES256"


def test_only_es256_and_eddsa_signing_keys_are_kept() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = RSAAlgorithm.to_jwk(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(), as_dict=True
    )
    ed = OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate().public_key(), as_dict=True)
    p384 = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), as_dict=True)
    document = {
        "keys": [
            {**_ec("ec"), "use": "sig"},
            {**ed, "kid": "ed"},
            {**rsa_key, "kid": "rsa"},
            {**p384, "kid": "p384"},
            {**_ec("enc"), "use": "enc"},
            _ec("") | {"kid": 7},
            "not a key",
        ]
    }
    kept = keys_of(document)
    assert {kid: key.algorithm_name for kid, key in kept.items()} == {"ec": "ES256", "ed": "EdDSA"}
    assert isinstance(kept["ec"], jwt.PyJWK)
