"""SM4-GCM and the crypto profiles: what each profile names, and that its functions are the
algorithms it names."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from gmssl_pyx import gmsslext

from exchange.security.gm import (
    GM,
    INTL,
    CiphertextInvalid,
    Sm4Gcm,
    hmac_sm3,
    profile_named,
    sm3,
)

KEY = bytes(range(16))


def test_sm4_gcm_round_trips_with_a_fresh_nonce_each_time() -> None:
    sm4 = Sm4Gcm(KEY)
    first, second = sm4.encrypt(b"secret", b"kid-1"), sm4.encrypt(b"secret", b"kid-1")
    assert first[:12] != second[:12]
    assert len(first) == 12 + len(b"secret") + 16
    assert sm4.decrypt(first, b"kid-1") == b"secret"


def test_sm4_gcm_blob_is_nonce_ciphertext_tag_as_gmssl_reads_it() -> None:
    blob = Sm4Gcm(KEY).encrypt(b"stored signing key", b"aad")
    nonce, body, tag = blob[:12], blob[12:-16], blob[-16:]
    assert gmsslext.sm4_gcm_decrypt(KEY, nonce, b"aad", body, tag) == b"stored signing key"


@pytest.mark.parametrize(
    ("alter", "aad"),
    [
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), b"aad"),  # the tag
        (lambda b: b[:12] + bytes([b[12] ^ 1]) + b[13:], b"aad"),  # the ciphertext
        (lambda b: b, b"other aad"),
        (lambda b: b[:27], b"aad"),  # shorter than a nonce and a tag
    ],
    ids=["tag", "ciphertext", "associated-data", "truncated"],
)
def test_sm4_gcm_refuses_anything_altered(alter: object, aad: bytes) -> None:
    sm4 = Sm4Gcm(KEY)
    blob = sm4.encrypt(b"payload", b"aad")
    with pytest.raises(CiphertextInvalid):
        sm4.decrypt(alter(blob), aad)  # type: ignore[operator]


def test_sm4_gcm_under_another_key_is_refused() -> None:
    with pytest.raises(CiphertextInvalid):
        Sm4Gcm(bytes(16)).decrypt(Sm4Gcm(KEY).encrypt(b"payload"))


def test_hmac_sm3_agrees_with_gmssl() -> None:
    for key in (b"k", os.urandom(32), os.urandom(100)):  # short, block-sized and hashed keys
        assert hmac_sm3(key, b"subject 110101199003077777") == gmsslext.sm3_hmac(
            key, b"subject 110101199003077777"
        )


def test_the_profiles_name_their_algorithms() -> None:
    assert (GM.name, GM.hash_name, GM.mac_name, GM.aead_name) == (
        "gm",
        "SM3",
        "HMAC-SM3",
        "SM4-GCM",
    )
    assert (GM.jws_alg, GM.note_signature_type) == ("SM2SM3", b"\xfftongban/sm2-sm3")
    assert (INTL.jws_alg, INTL.note_signature_type, INTL.aead_name) == (
        "EdDSA",
        b"\x01",
        "AES-256-GCM",
    )
    assert profile_named("gm") is GM
    assert profile_named("intl") is INTL
    with pytest.raises(ValueError, match="no crypto profile"):
        profile_named("sm2")


def test_each_profiles_functions_are_the_algorithms_it_names() -> None:
    assert GM.hash(b"abc") == sm3(b"abc")
    assert INTL.hash(b"abc") == hashlib.sha256(b"abc").digest()
    assert GM.mac(b"k", b"d") == hmac_sm3(b"k", b"d")
    assert INTL.mac(b"k", b"d") == hmac.new(b"k", b"d", hashlib.sha256).digest()
    for profile in (GM, INTL):
        aead = profile.aead(os.urandom(profile.aead_key_bytes))
        assert aead.decrypt(aead.encrypt(b"x", b"ad"), b"ad") == b"x"
        with pytest.raises(CiphertextInvalid):
            aead.decrypt(aead.encrypt(b"x", b"ad"), b"other")
