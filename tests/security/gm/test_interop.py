"""Interoperability, proven by code that shares nothing with the signer (GmSSL): the OpenSSL 3
command line and npm's sm-crypto (pure JavaScript, pinned by tests/gm/package-lock.json) verify
what the hub's SM2 code signs, and the hub's code verifies what they sign. Real processes, no
mocks. Where the tool is missing locally the test is skipped with the reason; .ci/run installs
both, so CI runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from exchange.security.gm import (
    DISTINGUISHING_ID,
    GmSignatureInvalid,
    Sm2PublicKey,
    SoftwareSm2Signer,
    signature_from_der,
    signature_to_der,
    sm3,
)

ROOT = Path(__file__).resolve().parents[3]
SM_CRYPTO = ROOT / "tests" / "gm"
MESSAGE = '{"evidence":"出生医学证明","audit_index":42}'.encode()
DISTID = f"distid:{DISTINGUISHING_ID.decode()}"


def _openssl() -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command line is not installed")
    version = subprocess.run([openssl, "version"], capture_output=True, text=True, check=True)
    if not version.stdout.startswith("OpenSSL 3."):
        pytest.skip(f"SM2 with a distinguishing ID needs OpenSSL 3, not {version.stdout.strip()}")
    return openssl


def _sm_crypto(request: dict[str, str]) -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (.ci/run installs it)")
    if not (SM_CRYPTO / "node_modules" / "sm-crypto").is_dir():
        pytest.skip("sm-crypto is not installed: npm ci --prefix tests/gm (.ci/run does)")
    done = subprocess.run(
        [node, str(SM_CRYPTO / "sm2.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


# -- the OpenSSL command line ------------------------------------------------------------------


def _openssl_verifies(openssl: str, tmp: Path, key: Sm2PublicKey, signature: bytes) -> bool:
    (tmp / "hub.pub.pem").write_text(key.to_spki_pem())
    (tmp / "message").write_bytes(MESSAGE)
    (tmp / "signature.der").write_bytes(signature_to_der(signature))
    done = _run(
        openssl, "dgst", "-sm3", "-verify", str(tmp / "hub.pub.pem"), "-sigopt", DISTID,
        "-signature", str(tmp / "signature.der"), str(tmp / "message"),
    )  # fmt: skip
    return done.returncode == 0 and done.stdout.strip() == "Verified OK"


def test_openssl_verifies_what_the_hub_signs(tmp_path: Path) -> None:
    openssl, signer = _openssl(), SoftwareSm2Signer.generate()
    assert _openssl_verifies(openssl, tmp_path, signer.public_key, signer.sign(MESSAGE))


def test_openssl_refuses_the_hub_signature_of_another_id_or_with_a_flipped_bit(
    tmp_path: Path,
) -> None:
    openssl, signer = _openssl(), SoftwareSm2Signer.generate()
    other_id = signer.sign(MESSAGE, distinguishing_id=b"ALICE123@YAHOO.COM")
    assert not _openssl_verifies(openssl, tmp_path, signer.public_key, other_id)
    flipped = bytearray(signer.sign(MESSAGE))
    flipped[40] ^= 0x01
    assert not _openssl_verifies(openssl, tmp_path, signer.public_key, bytes(flipped))


def test_the_hub_verifies_what_openssl_signs(tmp_path: Path) -> None:
    openssl = _openssl()
    key, message = tmp_path / "department.pem", tmp_path / "message"
    message.write_bytes(MESSAGE)
    made = _run(openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2",
                "-out", str(key))  # fmt: skip
    assert made.returncode == 0, made.stderr
    signed = subprocess.run(
        [openssl, "dgst", "-sm3", "-sign", str(key), "-sigopt", DISTID, str(message)],
        capture_output=True,
        check=True,
    )
    spki = subprocess.run(
        [openssl, "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    department = Sm2PublicKey.from_spki_der(spki)
    signature = signature_from_der(signed.stdout)
    department.verify(signature, MESSAGE)
    with pytest.raises(GmSignatureInvalid):
        department.verify(signature, MESSAGE, distinguishing_id=b"ALICE123@YAHOO.COM")


# -- npm's sm-crypto ---------------------------------------------------------------------------


def test_sm_crypto_verifies_what_the_hub_signs() -> None:
    signer = SoftwareSm2Signer.generate()
    signature = signer.sign(MESSAGE)
    request = {"public": signer.public_key.uncompressed.hex(), "message": MESSAGE.hex()}
    assert _sm_crypto({"op": "verify", **request, "signature": signature.hex()}) == {"valid": True}
    flipped = bytes([signature[0] ^ 0x01]) + signature[1:]
    assert _sm_crypto({"op": "verify", **request, "signature": flipped.hex()}) == {"valid": False}
    other_id = signer.sign(MESSAGE, distinguishing_id=b"ALICE123@YAHOO.COM")
    assert _sm_crypto({"op": "verify", **request, "signature": other_id.hex()}) == {"valid": False}


def test_the_hub_verifies_what_sm_crypto_signs() -> None:
    pair = _sm_crypto({"op": "keypair"})
    public = Sm2PublicKey.from_uncompressed(bytes.fromhex(str(pair["public"])))
    signed = _sm_crypto(
        {"op": "sign", "private": str(pair["private"]), "public": str(pair["public"]),
         "message": MESSAGE.hex()}
    )  # fmt: skip
    signature = bytes.fromhex(str(signed["signature"]))
    public.verify(signature, MESSAGE)
    with pytest.raises(GmSignatureInvalid):
        public.verify(signature, MESSAGE + b"\n")


def test_sm_crypto_agrees_on_the_standard_key_pair_and_on_sm3() -> None:
    """GB/T 32918.2-2016 appendix A's private key gives its printed public key in sm-crypto
    too, and the hub loads that pair (its pairwise check signs and verifies)."""
    from tests.security.gm.test_vectors import SM2_PRIVATE, SM2_PUBLIC

    derived = _sm_crypto({"op": "public_of", "private": SM2_PRIVATE.hex()})
    assert derived == {"public": SM2_PUBLIC.hex()}
    SoftwareSm2Signer.from_private_bytes(SM2_PRIVATE, Sm2PublicKey.from_uncompressed(SM2_PUBLIC))
    assert _sm_crypto({"op": "sm3", "message": MESSAGE.hex()}) == {"digest": sm3(MESSAGE).hex()}
