"""A stand-in for a certified cryptographic module (docs/gm.md, "A certified module"): SM2 keys
that live only in PEM files of a directory the hub never reads, each signature made by another
process (the OpenSSL 3 command line), as a 密码机's SDK signs inside the device.

``TONGBAN_SM2_MODULE=tests.security.gm.openssl_module:module`` with ``TONGBAN_TEST_SM2_KEYS``
naming the directory (0700). ``generate(label)`` makes ``<label>.pem`` with ``openssl genpkey``;
``signer(label)`` reads only its public key (``openssl pkey -pubout``); ``sign`` runs ``openssl
dgst -sm3 -sign`` with the distinguishing ID 1234567812345678. Every signature it makes is
counted in ``<dir>/signatures.log`` (one line per signature: the label), for the tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from exchange.security.gm import Sm2PublicKey, signature_from_der

__all__ = ["OpensslModule", "OpensslSigner", "module"]

_LABEL = re.compile(r"[A-Za-z0-9._-]{1,100}")


def _openssl(*args: str, data: bytes | None = None) -> bytes:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command line is not installed")
    done = subprocess.run(
        [openssl, *args], input=data, capture_output=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed")
    return done.stdout


class OpensslSigner:
    """One key of the directory, used through the openssl command line."""

    def __init__(self, directory: Path, label: str) -> None:
        self._directory = directory
        self._label = label
        self._pem = directory / f"{label}.pem"
        spki = _openssl("pkey", "-in", str(self._pem), "-pubout", "-outform", "DER")
        self._public = Sm2PublicKey.from_spki_der(spki)

    @property
    def public_key(self) -> Sm2PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        with tempfile.NamedTemporaryFile(dir=self._directory) as data:
            data.write(message)
            data.flush()
            der = _openssl(
                "dgst", "-sm3", "-sign", str(self._pem), "-sigopt", "distid:1234567812345678",
                data.name,
            )  # fmt: skip
        with (self._directory / "signatures.log").open("a", encoding="utf-8") as log:
            log.write(f"{self._label}\n")
        return signature_from_der(der)


class OpensslModule:
    """The directory's keys by label."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _checked(self, label: str) -> str:
        if not _LABEL.fullmatch(label):
            raise ValueError("a label of letters, digits, '.', '_' and '-'")
        return label

    def generate(self, label: str) -> OpensslSigner:
        pem = self._directory / f"{self._checked(label)}.pem"
        if pem.exists():
            raise FileExistsError("a key of that label exists")
        _openssl("genpkey", "-algorithm", "SM2", "-out", str(pem))
        pem.chmod(0o600)
        return OpensslSigner(self._directory, label)

    def signer(self, label: str) -> OpensslSigner:
        if not (self._directory / f"{self._checked(label)}.pem").is_file():
            raise KeyError("no key of that label")
        return OpensslSigner(self._directory, label)


def module() -> OpensslModule:
    """The factory ``TONGBAN_SM2_MODULE`` names."""
    return OpensslModule(Path(os.environ["TONGBAN_TEST_SM2_KEYS"]))
