"""The client SDK's own SM2 verification (public values only, no GmSSL) agrees with the hub's
signer and with OpenSSL, and refuses what they refuse."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.audit.checkpoint import NoteSigner
from exchange.client.sdk import _note_key, _Sm2PublicKey
from exchange.security.gm import DISTINGUISHING_ID, SoftwareSm2Signer, signature_from_der, sm3
from exchange.security.gm.sm2 import Sm2PublicKey
from tests.security.gm.test_interop import DISTID, MESSAGE, _openssl, _run


def _sdk_key(public: Sm2PublicKey) -> _Sm2PublicKey:
    return _Sm2PublicKey.of_point(public.uncompressed)


def test_the_sdk_verifies_the_hub_signers_signatures_and_refuses_altered_ones() -> None:
    signer = SoftwareSm2Signer.generate()
    key = _sdk_key(signer.public_key)
    signature = signer.sign(MESSAGE)
    key.verify(signature, MESSAGE)
    with pytest.raises(InvalidSignature):
        key.verify(signature, MESSAGE + b"!")
    with pytest.raises(InvalidSignature):
        key.verify(bytes([signature[0] ^ 1]) + signature[1:], MESSAGE)
    with pytest.raises(InvalidSignature):
        key.verify(signer.sign(MESSAGE, distinguishing_id=b"ALICE123@YAHOO.COM"), MESSAGE)
    with pytest.raises(InvalidSignature):
        _sdk_key(SoftwareSm2Signer.generate().public_key).verify(signature, MESSAGE)
    assert DISTINGUISHING_ID == b"1234567812345678"


def test_the_sdk_verifies_what_openssl_signs(tmp_path: Path) -> None:
    openssl = _openssl()
    key, message = tmp_path / "k.pem", tmp_path / "m"
    message.write_bytes(MESSAGE)
    made = _run(openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2",
                "-out", str(key))  # fmt: skip
    assert made.returncode == 0, made.stderr
    signed = subprocess.run(
        [openssl, "dgst", "-sm3", "-sign", str(key), "-sigopt", DISTID, str(message)],
        capture_output=True, check=True,
    )  # fmt: skip
    spki = subprocess.run(
        [openssl, "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    public = Sm2PublicKey.from_spki_der(spki)
    _sdk_key(public).verify(signature_from_der(signed.stdout), MESSAGE)


def test_the_sdk_reads_an_sm2_vkey_and_refuses_a_point_off_the_curve() -> None:
    note_signer = NoteSigner("hub.example/log", SoftwareSm2Signer.generate())
    key = _note_key(note_signer.vkey())
    assert key.key_id == note_signer.key_id
    left, right = b"a" * 32, b"b" * 32
    assert key.node_hash(left, right) == sm3(b"\x01" + left + right)  # an SM2 log: SM3 tree
    ed25519 = _note_key(NoteSigner("x", Ed25519PrivateKey.generate()).vkey())
    assert ed25519.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    with pytest.raises(ValueError, match="curve"):
        _Sm2PublicKey.of_point(b"\x04" + b"\x01" * 64)
