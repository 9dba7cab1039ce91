"""SM3, SM4 and SM2 against the examples printed in their national standards.

The vectors are copied from the standards' appendices, not computed here: GB/T 32905-2016
appendix A (SM3), GB/T 32907-2016 appendix A (SM4), GB/T 32918.2-2016 appendix A (SM2 signature
on the recommended curve sm2p256v1, the curve the 2016 edition's examples use, unlike GM/T
0003-2012's test curve), and RFC 8998 appendix A.1 (SM4-GCM). Each one is also checked with
GmSSL where GmSSL has the primitive, so that cryptography's OpenSSL and GmSSL agree.
"""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl_pyx import gmsslext

from exchange.security.gm import GmSignatureInvalid, Sm2PublicKey, Sm4Gcm, SoftwareSm2Signer, sm3

SM3_VECTORS = [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
]

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_ONCE = bytes.fromhex("681edf34d206965e86b3e94f536e4246")
SM4_MILLION = bytes.fromhex("595298c7c6fd271f0402f804c33d3f66")

# GB/T 32918.2-2016 appendix A: message "message digest", ID "1234567812345678", on sm2p256v1.
SM2_PRIVATE = bytes.fromhex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8")
SM2_PUBLIC = bytes.fromhex(
    "04"
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
SM2_MESSAGE = b"message digest"
SM2_SIGNATURE = bytes.fromhex(
    "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3"
    "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa"
)


@pytest.mark.parametrize(("message", "digest"), SM3_VECTORS, ids=["abc", "512-bit"])
def test_sm3_gives_the_standard_digests(message: bytes, digest: str) -> None:
    assert sm3(message).hex() == digest
    assert gmsslext.sm3_hash(message).hex() == digest


def test_sm4_encrypts_the_standard_block() -> None:
    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()  # noqa: S305 - one block
    assert encryptor.update(SM4_KEY) + encryptor.finalize() == SM4_ONCE


def test_sm4_encrypting_the_block_a_million_times_gives_the_standard_result() -> None:
    """GB/T 32907-2016 A.2: the block encrypted 1,000,000 times under the same key (a few
    seconds: one ECB context, one block per call)."""
    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()  # noqa: S305
    block, started = SM4_KEY, time.monotonic()
    for _ in range(1_000_000):
        block = encryptor.update(block)
    assert block == SM4_MILLION, f"after {time.monotonic() - started:.1f} s"


def test_sm4_gcm_matches_rfc_8998() -> None:
    nonce = bytes.fromhex("00001234567800000000abcd")
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    plaintext = bytes.fromhex(
        "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"
        "eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa"
    )
    ciphertext = bytes.fromhex(
        "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
        "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
    )
    tag = bytes.fromhex("83de3541e4c2b58177e065a9bf7b62ec")
    sm4 = Sm4Gcm(SM4_KEY)
    assert sm4.encrypt_with_nonce(nonce, plaintext, aad) == ciphertext + tag
    assert sm4.decrypt(nonce + ciphertext + tag, aad) == plaintext
    assert gmsslext.sm4_gcm_encrypt(SM4_KEY, nonce, aad, plaintext) == (ciphertext, tag)


def test_the_published_sm2_signature_verifies_under_the_published_key() -> None:
    Sm2PublicKey.from_uncompressed(SM2_PUBLIC).verify(SM2_SIGNATURE, SM2_MESSAGE)


def test_the_published_sm2_signature_does_not_verify_for_another_message() -> None:
    with pytest.raises(GmSignatureInvalid):
        Sm2PublicKey.from_uncompressed(SM2_PUBLIC).verify(SM2_SIGNATURE, b"message digesT")


def test_the_published_private_key_is_the_published_public_keys_and_signs_verifiably() -> None:
    """GmSSL draws k itself (no fixed k can be given), so the signature differs from the
    printed one; loading the pair checks they belong together, and the result verifies."""
    public = Sm2PublicKey.from_uncompressed(SM2_PUBLIC)
    signer = SoftwareSm2Signer.from_private_bytes(SM2_PRIVATE, public)
    signature = signer.sign(SM2_MESSAGE)
    assert signature != SM2_SIGNATURE
    public.verify(signature, SM2_MESSAGE)
