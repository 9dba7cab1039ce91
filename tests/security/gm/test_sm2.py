"""The SM2 interface: signatures verify only for their key, message and ID; keys and
signatures are refused unless well formed; a key pair that does not belong together is refused."""

from __future__ import annotations

import base64

import pytest

from exchange.security.gm import (
    GmKeyInvalid,
    GmSignatureInvalid,
    Sm2PublicKey,
    Sm2Signer,
    SoftwareSm2Signer,
    signature_from_der,
    signature_to_der,
)
from exchange.security.gm.sm2 import N

MESSAGE = "出生医学证明 核验 2026".encode()


@pytest.fixture(scope="module")
def signer() -> SoftwareSm2Signer:
    return SoftwareSm2Signer.generate()


def test_a_signature_verifies_under_its_key(signer: SoftwareSm2Signer) -> None:
    signature = signer.sign(MESSAGE)
    assert len(signature) == 64
    signer.public_key.verify(signature, MESSAGE)


@pytest.mark.parametrize("bit", [0, 255, 256, 511])
def test_a_signature_with_one_bit_flipped_is_refused(signer: SoftwareSm2Signer, bit: int) -> None:
    signature = bytearray(signer.sign(MESSAGE))
    signature[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(GmSignatureInvalid):
        signer.public_key.verify(bytes(signature), MESSAGE)


def test_another_message_is_refused(signer: SoftwareSm2Signer) -> None:
    with pytest.raises(GmSignatureInvalid):
        signer.public_key.verify(signer.sign(MESSAGE), MESSAGE + b" ")


def test_another_distinguishing_id_is_refused(signer: SoftwareSm2Signer) -> None:
    signature = signer.sign(MESSAGE)
    with pytest.raises(GmSignatureInvalid):
        signer.public_key.verify(signature, MESSAGE, distinguishing_id=b"ALICE123@YAHOO.COM")
    other = signer.sign(MESSAGE, distinguishing_id=b"ALICE123@YAHOO.COM")
    signer.public_key.verify(other, MESSAGE, distinguishing_id=b"ALICE123@YAHOO.COM")
    with pytest.raises(GmSignatureInvalid):
        signer.public_key.verify(other, MESSAGE)


def test_another_key_is_refused(signer: SoftwareSm2Signer) -> None:
    with pytest.raises(GmSignatureInvalid):
        SoftwareSm2Signer.generate().public_key.verify(signer.sign(MESSAGE), MESSAGE)


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"\x01" * 63,
        b"\x00" * 32 + b"\x01" * 32,  # r = 0
        b"\x01" * 32 + N.to_bytes(32, "big"),  # s = n
    ],
    ids=["empty", "short", "r-zero", "s-order"],
)
def test_a_malformed_signature_is_refused(signer: SoftwareSm2Signer, signature: bytes) -> None:
    with pytest.raises(GmSignatureInvalid):
        signer.public_key.verify(signature, MESSAGE)


def test_der_and_raw_signatures_convert_both_ways(signer: SoftwareSm2Signer) -> None:
    raw = signer.sign(MESSAGE)
    der = signature_to_der(raw)
    assert der[0] == 0x30
    assert signature_from_der(der) == raw


def test_a_non_canonical_der_signature_is_refused(signer: SoftwareSm2Signer) -> None:
    der = signature_to_der(signer.sign(MESSAGE))
    padded_r = bytes([0x30, der[1] + 1, 0x02, der[3] + 1, 0x00]) + der[4:]  # a redundant 0x00
    with pytest.raises(GmSignatureInvalid):
        signature_from_der(padded_r)
    with pytest.raises(GmSignatureInvalid):
        signature_from_der(der + b"\x00")


def test_public_keys_round_trip_through_every_form(signer: SoftwareSm2Signer) -> None:
    key = signer.public_key
    assert Sm2PublicKey.from_uncompressed(key.uncompressed) == key
    assert Sm2PublicKey.from_jwk(key.to_jwk()) == key
    assert Sm2PublicKey.from_spki_der(key.to_spki_der()) == key
    jwk = key.to_jwk()
    assert set(jwk) == {"kty", "crv", "x", "y"}
    assert (jwk["kty"], jwk["crv"]) == ("EC", "SM2")
    assert base64.urlsafe_b64decode(jwk["x"] + "=") == key.uncompressed[1:33]


def test_a_point_off_the_curve_is_refused(signer: SoftwareSm2Signer) -> None:
    point = bytearray(signer.public_key.uncompressed)
    point[-1] ^= 1
    with pytest.raises(GmKeyInvalid, match="not on the SM2 curve"):
        Sm2PublicKey.from_uncompressed(bytes(point))


@pytest.mark.parametrize(
    "change",
    [
        {"crv": "P-256"},
        {"kty": "OKP"},
        {"d": "AAAA"},
        {"x": "not base64!"},
        {"y": "AQ"},
    ],
    ids=["p-256", "okp", "private", "bad-x", "short-y"],
)
def test_a_jwk_that_is_not_a_public_sm2_key_is_refused(
    signer: SoftwareSm2Signer, change: dict[str, str]
) -> None:
    with pytest.raises(GmKeyInvalid):
        Sm2PublicKey.from_jwk(signer.public_key.to_jwk() | change)


def test_a_jwk_coordinate_with_stray_characters_is_refused(signer: SoftwareSm2Signer) -> None:
    """base64 decoders skip what is not in their alphabet; a JWK's coordinates must be exactly
    the canonical unpadded base64url (its thumbprint is computed over them)."""
    jwk = signer.public_key.to_jwk()
    x = jwk["x"]
    for stray in (x[:5] + "!!!!" + x[5:], x[:5] + "\n \n " + x[5:], x + "="):
        with pytest.raises(GmKeyInvalid, match="base64url"):
            Sm2PublicKey.from_jwk(jwk | {"x": stray})


def test_a_private_key_with_someone_elses_public_key_is_refused(
    signer: SoftwareSm2Signer,
) -> None:
    stranger = SoftwareSm2Signer.generate().public_key
    with pytest.raises(GmKeyInvalid, match="not the private key's"):
        SoftwareSm2Signer.from_private_bytes(signer.private_bytes(), stranger)
    again = SoftwareSm2Signer.from_private_bytes(signer.private_bytes(), signer.public_key)
    signer.public_key.verify(again.sign(MESSAGE), MESSAGE)


@pytest.mark.parametrize("scalar", [0, N - 1, N])
def test_a_private_scalar_out_of_range_is_refused(signer: SoftwareSm2Signer, scalar: int) -> None:
    with pytest.raises(GmKeyInvalid, match="scalar"):
        SoftwareSm2Signer.from_private_bytes(scalar.to_bytes(32, "big"), signer.public_key)


def test_the_software_signer_is_an_sm2_signer_and_does_not_show_its_key(
    signer: SoftwareSm2Signer,
) -> None:
    assert isinstance(signer, Sm2Signer)
    assert signer.private_bytes().hex() not in repr(signer)
