"""SM3 (GB/T 32905-2016), HMAC-SM3 (RFC 2104 over SM3) and SM4-GCM (GB/T 32907-2016 in the
GCM mode of NIST SP 800-38D, as RFC 8998 uses it), from ``cryptography``'s OpenSSL.

An SM4-GCM blob is laid out as the intl profile's AES-256-GCM blobs are:
``nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)``, with associated data given separately and
never stored in the blob. The nonce is random per encryption (``os.urandom``); with 96-bit
random nonces one key must encrypt fewer than 2^32 blobs (SP 800-38D §8.3), which the later
wiring keeps by deriving a key per purpose from the key schedule.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from exchange.security.gm.errors import CiphertextInvalid

__all__ = ["SM3_BYTES", "Sm4Gcm", "hmac_sm3", "sm3"]

SM3_BYTES = 32


def sm3(data: bytes) -> bytes:
    """The SM3 digest of *data* (32 bytes)."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 of *data* under *key* (32 bytes)."""
    mac = _crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


class Sm4Gcm:
    """SM4-GCM under one 16-byte key: :meth:`encrypt` to ``nonce ‖ ciphertext ‖ tag``,
    :meth:`decrypt` back, refusing anything altered (:class:`CiphertextInvalid`)."""

    KEY_BYTES = 16
    NONCE_BYTES = 12
    TAG_BYTES = 16

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != self.KEY_BYTES:
            raise ValueError("an SM4 key is 16 bytes")
        self._key = key

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        nonce = os.urandom(self.NONCE_BYTES)
        return nonce + self.encrypt_with_nonce(nonce, plaintext, associated_data)

    def encrypt_with_nonce(self, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        """``ciphertext ‖ tag`` under a nonce the caller chose: for test vectors only; a nonce
        used twice under one key gives the key's authentication away."""
        if len(nonce) != self.NONCE_BYTES:
            raise ValueError("an SM4-GCM nonce is 12 bytes")
        encryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(associated_data)
        ciphertext = encryptor.update(plaintext) + encryptor.finalize()
        return ciphertext + encryptor.tag

    def decrypt(self, blob: bytes, associated_data: bytes = b"") -> bytes:
        if len(blob) < self.NONCE_BYTES + self.TAG_BYTES:
            raise CiphertextInvalid("the SM4-GCM blob is shorter than a nonce and a tag")
        nonce, body = blob[: self.NONCE_BYTES], blob[self.NONCE_BYTES : -self.TAG_BYTES]
        tag = blob[-self.TAG_BYTES :]
        decryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(associated_data)
        try:
            return decryptor.update(body) + decryptor.finalize()
        except InvalidTag:
            raise CiphertextInvalid("the SM4-GCM blob does not decrypt") from None
