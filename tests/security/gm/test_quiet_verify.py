"""A bad SM2 signature is a clean refusal: GmSSL's failure lines never reach standard error,
and what the rest of the process writes there meanwhile still does."""

from __future__ import annotations

import os

import pytest

from exchange.security.gm import GmSignatureInvalid, SoftwareSm2Signer
from exchange.security.gm.quiet import gmssl_stderr_filtered

MESSAGE = "婚姻登记 核验".encode()


def test_a_refused_signature_writes_nothing_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    signer = SoftwareSm2Signer.generate()
    signature = bytearray(signer.sign(MESSAGE))
    signature[7] ^= 0x01
    capfd.readouterr()
    with pytest.raises(GmSignatureInvalid):
        signer.public_key.verify(bytes(signature), MESSAGE)
    with pytest.raises(GmSignatureInvalid):
        SoftwareSm2Signer.generate().public_key.verify(signer.sign(MESSAGE), MESSAGE)
    signer.public_key.verify(signer.sign(MESSAGE), MESSAGE)
    assert capfd.readouterr().err == ""


def test_other_stderr_output_during_a_call_is_passed_on(
    capfd: pytest.CaptureFixture[str],
) -> None:
    def call() -> int:
        os.write(2, b"/project/GmSSL/src/sm2_sign.c:265:sm2_fast_verify():\n")
        os.write(2, "a log record from another thread 日志\n".encode())
        os.write(2, b"/project/GmSSL/src/sm2_sign.c:671:sm2_verify_finish():\n")
        return 7

    capfd.readouterr()
    assert gmssl_stderr_filtered(call) == 7
    assert gmssl_stderr_filtered(lambda: 8) == 8
    assert capfd.readouterr().err == "a log record from another thread 日志\n"


def test_stderr_is_restored_when_the_call_raises(capfd: pytest.CaptureFixture[str]) -> None:
    def call() -> None:
        os.write(2, b"kept\n")
        raise RuntimeError("boom")

    capfd.readouterr()
    with pytest.raises(RuntimeError):
        gmssl_stderr_filtered(call)
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "kept\nafter\n"
