"""The keyed hash a ``hash`` release gives out follows the crypto profile: ``hmac-sm3:…`` under
``gm`` (recomputed here with GmSSL's HMAC-SM3, which shares no code with the hub's), and
``hmac-sha256:…`` byte for byte as before under ``intl``; the hub hands the same key, with its
profile's function, to the query pipeline, the subscription outbox and the peer feed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest
from gmssl_pyx import gmsslext

from exchange.hub import Hub
from exchange.settings import Settings
from policies.model import Release
from policies.transforms import HashKey, apply_release
from policies.verification import ClaimTooPrecise, confirms

SECRET = "gm-release-hash-secret-" + "r" * 24
HEAD = "欧阳娜娜"
CANONICAL = '"欧阳娜娜"'.encode()


def _hub(tmp_path: Path, profile: str) -> Hub:
    settings = Settings(
        mode="dev",
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        secret_key=SECRET,
        crypto_profile=profile,
        adapters_file=None,
    )
    return Hub(settings)


def _b64url(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_hash_release_is_hmac_sm3_under_gm(tmp_path: Path) -> None:
    key = _hub(tmp_path, "gm").release_hash_key
    released = apply_release(Release.HASH, HEAD, hash_key=key.for_consumer("edu-enrolment"))
    release_key = gmsslext.sm3_hmac(SECRET.encode(), b"release-hash")
    consumer_key = gmsslext.sm3_hmac(release_key, b"edu-enrolment")
    assert released == "hmac-sm3:" + _b64url(gmsslext.sm3_hmac(consumer_key, CANONICAL))


def test_a_hash_release_is_hmac_sha256_under_intl_as_before(tmp_path: Path) -> None:
    key = _hub(tmp_path, "intl").release_hash_key
    released = apply_release(Release.HASH, HEAD, hash_key=key.for_consumer("edu-enrolment"))
    release_key = hmac.new(SECRET.encode(), b"release-hash", hashlib.sha256).digest()
    consumer_key = hmac.new(release_key, b"edu-enrolment", hashlib.sha256).digest()
    expected = hmac.new(consumer_key, CANONICAL, hashlib.sha256).digest()
    assert released == "hmac-sha256:" + _b64url(expected)


def test_two_consumers_get_different_sm3_hashes_of_one_value(tmp_path: Path) -> None:
    key = _hub(tmp_path, "gm").release_hash_key
    edu = apply_release(Release.HASH, HEAD, hash_key=key.for_consumer("edu-enrolment"))
    mca = apply_release(Release.HASH, HEAD, hash_key=key.for_consumer("mca-dibao"))
    assert edu != mca
    assert (edu[:9], mca[:9]) == ("hmac-sm3:", "hmac-sm3:")


@pytest.mark.parametrize("profile", ["intl", "gm"])
def test_the_pipeline_outbox_and_peer_feed_hash_under_the_profiles_key(
    tmp_path: Path, profile: str
) -> None:
    hub = _hub(tmp_path, profile)
    name = {"intl": "hmac-sha256", "gm": "hmac-sm3"}[profile]
    assert hub.release_hash_key.function.name == name
    for user in (hub.pipeline, hub.change_reader, hub.peer_feed):
        assert user._hash_key == hub.release_hash_key  # the wiring is the point


def test_a_verify_confirms_an_sm3_hash_claim_and_refuses_a_clear_one(tmp_path: Path) -> None:
    key = _hub(tmp_path, "gm").release_hash_key.for_consumer("edu-enrolment")
    hashed = apply_release(Release.HASH, HEAD, hash_key=key)
    assert confirms(Release.HASH, hashed, hashed)
    other = apply_release(Release.HASH, "张三", hash_key=key)
    assert not confirms(Release.HASH, other, hashed)
    with pytest.raises(ClaimTooPrecise):
        confirms(Release.HASH, HEAD, hashed)


def test_a_hash_key_refuses_a_short_key_whatever_its_function(tmp_path: Path) -> None:
    function = _hub(tmp_path, "gm").release_hash_key.function
    with pytest.raises(ValueError, match="at least 16 bytes"):
        HashKey(b"short", function)
