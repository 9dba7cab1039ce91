"""What the national-cryptography primitives refuse: key material that is not an SM2 key, and a
signature or a ciphertext that does not check."""

from __future__ import annotations

from schemas import TongbanError

__all__ = ["AlgorithmNotInProfile", "CiphertextInvalid", "GmKeyInvalid", "GmSignatureInvalid"]


class GmKeyInvalid(TongbanError):
    """Bytes or a JWK that are not an SM2 key on the standard curve (sm2p256v1), or a private key
    whose public key is not the one given with it."""

    code = "invalid_sm2_key"
    status = 400
    title = "Not an SM2 key"


class GmSignatureInvalid(TongbanError):
    """An SM2 signature that does not verify under the key, message and distinguishing ID
    (or is not a well-formed signature at all)."""

    code = "invalid_sm2_signature"
    status = 400
    title = "SM2 signature does not verify"


class CiphertextInvalid(TongbanError):
    """An AEAD blob (SM4-GCM, or AES-256-GCM under the intl profile) that does not decrypt:
    truncated, altered, under another key, or with other associated data."""

    code = "ciphertext_invalid"
    status = 500
    title = "Stored data does not decrypt"


class AlgorithmNotInProfile(TongbanError):
    """A signing algorithm the hub's crypto profile does not use (an SM2 key asked of an
    ``intl`` hub, an Ed25519 or P-256 key of a ``gm`` hub)."""

    code = "algorithm_not_in_profile"
    status = 400
    title = "Algorithm not in the crypto profile"
