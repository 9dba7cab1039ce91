"""The national-cryptography (国密) profile's primitives and the crypto profiles.

- :mod:`.sm2`: SM2 signatures with SM3 and the GM/T 0009 distinguishing ID; public keys as the
  uncompressed point, a JWK (``"crv": "SM2"``) and a SubjectPublicKeyInfo; the
  :class:`Sm2Signer` Protocol a certified module can implement, and the software signer.
- :mod:`.symmetric`: SM3, HMAC-SM3, SM4-GCM.
- :mod:`.profile`: the ``intl`` and ``gm`` profiles: which algorithm does which job.
- :mod:`.profile_check`: the profile recorded in the database, checked at every start.

- :mod:`.jws`: the JWS algorithm ``SM2SM3``, registered with PyJWT.

Tested against the standards' vectors and two independent implementations (the OpenSSL command
line and npm's sm-crypto), and used under the ``gm`` profile by the hub's key store, tokens and
evidence, client authentication, the audit tree and checkpoints, and pseudonyms: docs/gm.md
lists what is wired and what is not yet.
"""

from exchange.security.gm.errors import CiphertextInvalid, GmKeyInvalid, GmSignatureInvalid
from exchange.security.gm.profile import (
    GM,
    INTL,
    PROFILES,
    Aead,
    CryptoProfile,
    ProfileName,
    profile_named,
)
from exchange.security.gm.sm2 import (
    DISTINGUISHING_ID,
    Sm2PublicKey,
    Sm2Signer,
    SoftwareSm2Signer,
    signature_from_der,
    signature_to_der,
)
from exchange.security.gm.symmetric import Sm4Gcm, hmac_sm3, sm3

__all__ = [
    "DISTINGUISHING_ID",
    "GM",
    "INTL",
    "PROFILES",
    "Aead",
    "CiphertextInvalid",
    "CryptoProfile",
    "GmKeyInvalid",
    "GmSignatureInvalid",
    "ProfileName",
    "Sm2PublicKey",
    "Sm2Signer",
    "Sm4Gcm",
    "SoftwareSm2Signer",
    "hmac_sm3",
    "profile_named",
    "signature_from_der",
    "signature_to_der",
    "sm3",
]
