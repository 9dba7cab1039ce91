"""SM2 signatures (GB/T 32918.2-2016, GM/T 0003.2) with SM3 and a distinguishing ID (GM/T 0009).

What is signed is the message itself: the signer computes ``Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖
xA ‖ yA)`` from the distinguishing ID and the public key, then signs ``e = SM3(Z ‖ message)``.
The ID is ``1234567812345678`` (GM/T 0009-2012 §10, the default every national-crypto library
uses) unless a caller names another one.

Formats (docs/gm.md):

- a signature is **raw** ``r ‖ s``, 32 bytes each, big-endian: the JWS form (as ES256 in RFC
  7518 §3.4); :func:`signature_to_der` / :func:`signature_from_der` convert to and from the
  ``SEQUENCE { r INTEGER, s INTEGER }`` that OpenSSL, GmSSL and Java's ``SM3withSM2`` use;
- a public key is the **uncompressed point** ``0x04 ‖ x ‖ y`` (65 bytes), the JWK
  ``{"kty": "EC", "crv": "SM2", "x", "y"}`` (coordinates base64url, 32 bytes each), or the
  X.509 SubjectPublicKeyInfo (``id-ecPublicKey`` with the curve OID 1.2.156.10197.1.301).

Signing goes through :class:`Sm2Signer`, a one-property, one-method Protocol, so a certified
module (a hardware security module or a 密码机 through PKCS#11 or its vendor SDK) can stand where
:class:`SoftwareSm2Signer` stands. Verifying needs no secret and is done here, in software, for
any signer's signatures.

The software signer is GmSSL (through ``gmssl-pyx``; ADR 0008 says why, and what it does not
promise). A key pair is checked when it is loaded: a private key whose public key is not the
one given with it is refused instead of producing signatures nobody can verify.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from gmssl_pyx import gmsslext

from exchange.security.gm.errors import GmKeyInvalid, GmSignatureInvalid
from exchange.security.gm.quiet import gmssl_stderr_filtered
from exchange.security.gm.symmetric import sm3

__all__ = [
    "DISTINGUISHING_ID",
    "JWK_CURVE",
    "SIGNATURE_BYTES",
    "Sm2PublicKey",
    "Sm2Signer",
    "SoftwareSm2Signer",
    "signature_from_der",
    "signature_to_der",
    "z_value",
]

DISTINGUISHING_ID = b"1234567812345678"
"""The default signer ID of GM/T 0009-2012 §10, used when a caller names none."""
MAX_ID_BYTES = 8191
"""ENTL is the ID's length in *bits* in two bytes: an ID is at most 8191 bytes."""
JWK_CURVE = "SM2"
SIGNATURE_BYTES = 64

# The recommended curve sm2p256v1 (GB/T 32918.5-2017).
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

# SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { id-ecPublicKey, sm2p256v1 }, BIT STRING 0x04 ‖ x ‖ y }
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
_PAIRWISE_CHECK = b"tongban sm2 pairwise consistency check"
_RECOVERY_DIGEST = bytes(range(32))  # any 32 bytes: the e of one signature made to find d·G


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: object, what: str) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise GmKeyInvalid(f"the JWK's {what} is not unpadded base64url")
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        decoded = None
    if decoded is None or _b64url(decoded) != text:  # no stray or non-canonical characters
        raise GmKeyInvalid(f"the JWK's {what} is not unpadded base64url")
    return decoded


def _checked_id(distinguishing_id: bytes) -> bytes:
    if not 0 < len(distinguishing_id) <= MAX_ID_BYTES:
        raise ValueError(f"an SM2 distinguishing ID is 1 to {MAX_ID_BYTES} bytes")
    return distinguishing_id


@dataclass(frozen=True)
class Sm2PublicKey:
    """A point of sm2p256v1, checked to lie on the curve when it is made."""

    x: int
    y: int

    def __post_init__(self) -> None:
        on_curve = (self.y * self.y - (self.x**3 + A * self.x + B)) % P == 0
        if not (0 <= self.x < P and 0 <= self.y < P and on_curve):
            raise GmKeyInvalid("the point is not on the SM2 curve (sm2p256v1)")

    # -- import -----------------------------------------------------------------------------

    @classmethod
    def from_uncompressed(cls, point: bytes) -> Sm2PublicKey:
        """From ``0x04 ‖ x ‖ y`` (65 bytes)."""
        if len(point) != 65 or point[0] != 0x04:
            raise GmKeyInvalid(
                "an SM2 public key is the uncompressed point 0x04 ‖ x ‖ y (65 bytes)"
            )
        return cls(int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big"))

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> Sm2PublicKey:
        """From ``{"kty": "EC", "crv": "SM2", "x", "y"}``; a JWK carrying the private ``d``
        is refused (a public key's place must not hold a private one)."""
        if jwk.get("kty") != "EC" or jwk.get("crv") != JWK_CURVE:
            raise GmKeyInvalid('an SM2 JWK has "kty": "EC" and "crv": "SM2"')
        if "d" in jwk:
            raise GmKeyInvalid("the JWK holds a private key (d); only public keys are accepted")
        x, y = _unb64url(jwk.get("x"), "x"), _unb64url(jwk.get("y"), "y")
        if len(x) != 32 or len(y) != 32:
            raise GmKeyInvalid("an SM2 JWK's x and y are 32 bytes each")
        return cls.from_uncompressed(b"\x04" + x + y)

    @classmethod
    def from_spki_der(cls, der: bytes) -> Sm2PublicKey:
        """From the X.509 SubjectPublicKeyInfo OpenSSL writes (``openssl pkey -pubout
        -outform DER``) for an SM2 key."""
        if len(der) != len(_SPKI_PREFIX) + 65 or not der.startswith(_SPKI_PREFIX):
            raise GmKeyInvalid("not the SubjectPublicKeyInfo of an SM2 (sm2p256v1) key")
        return cls.from_uncompressed(der[len(_SPKI_PREFIX) :])

    # -- export -----------------------------------------------------------------------------

    @property
    def uncompressed(self) -> bytes:
        return b"\x04" + self.x.to_bytes(32, "big") + self.y.to_bytes(32, "big")

    def to_jwk(self) -> dict[str, str]:
        point = self.uncompressed
        return {"kty": "EC", "crv": JWK_CURVE, "x": _b64url(point[1:33]), "y": _b64url(point[33:])}

    def to_spki_der(self) -> bytes:
        return _SPKI_PREFIX + self.uncompressed

    def to_spki_pem(self) -> str:
        body = base64.encodebytes(self.to_spki_der()).decode("ascii")
        return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"

    # -- verification -----------------------------------------------------------------------

    def verify(
        self, signature: bytes, message: bytes, *, distinguishing_id: bytes = DISTINGUISHING_ID
    ) -> None:
        """Raise :class:`GmSignatureInvalid` unless *signature* (raw ``r ‖ s``) is this key's
        SM2 signature of *message* under *distinguishing_id*."""
        der = signature_to_der(signature)
        point, signer_id = self.uncompressed[1:], _checked_id(distinguishing_id)
        try:  # GmSSL writes a failure's source location to stderr: kept out (quiet.py)
            good = gmssl_stderr_filtered(
                lambda: gmsslext.sm2_verify(point, message, der, signer_id=signer_id)
            )
        except gmsslext.GmsslInnerError:  # InvalidValueError is one
            good = False
        if not good:
            raise GmSignatureInvalid("the SM2 signature does not verify")


def z_value(public: Sm2PublicKey, distinguishing_id: bytes = DISTINGUISHING_ID) -> bytes:
    """GB/T 32918.2-2016 §5.5: ``Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)``, ENTL the ID's
    length in bits (two bytes, big-endian), every field element 32 bytes."""
    entl = (len(_checked_id(distinguishing_id)) * 8).to_bytes(2, "big")
    curve = b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY))
    return sm3(entl + distinguishing_id + curve + public.uncompressed[1:])


def signature_to_der(signature: bytes) -> bytes:
    """Raw ``r ‖ s`` (64 bytes) to DER; r and s must each be in [1, n − 1]."""
    if len(signature) != SIGNATURE_BYTES:
        raise GmSignatureInvalid("an SM2 signature is r ‖ s, 64 bytes")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < N and 0 < s < N):
        raise GmSignatureInvalid("an SM2 signature's r and s are in [1, n - 1]")
    return encode_dss_signature(r, s)


def signature_from_der(der: bytes) -> bytes:
    """DER ``SEQUENCE { r, s }`` to raw ``r ‖ s`` (64 bytes); anything but canonical DER with r
    and s in [1, n − 1] is refused."""
    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        raise GmSignatureInvalid("not a DER-encoded SM2 signature") from None
    if not (0 < r < N and 0 < s < N) or encode_dss_signature(r, s) != der:
        raise GmSignatureInvalid("not a canonical DER-encoded SM2 signature")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@runtime_checkable
class Sm2Signer(Protocol):
    """Whatever holds an SM2 private key and signs with it: the software signer below, or a
    certified cryptographic module behind the same two members.

    :meth:`sign` signs *message* (not a digest) with the standard distinguishing ID
    (:data:`DISTINGUISHING_ID`) and returns raw ``r ‖ s``, 64 bytes. It never returns a
    signature that does not verify under :attr:`public_key`."""

    @property
    def public_key(self) -> Sm2PublicKey: ...

    def sign(self, message: bytes) -> bytes: ...


class SoftwareSm2Signer:
    """An SM2 key pair in this process's memory, signing with GmSSL (``gmssl-pyx``).

    Make one with :meth:`generate` or :meth:`from_private_bytes`; keep what
    :meth:`private_bytes` returns only encrypted (the key store's job)."""

    __slots__ = ("_private", "_public", "_z")

    def __init__(self, private: bytes, public: Sm2PublicKey) -> None:
        """Use :meth:`generate` or :meth:`from_private_bytes`: this does no check."""
        self._private = private
        self._public = public
        self._z = z_value(public, DISTINGUISHING_ID)

    @classmethod
    def generate(cls) -> SoftwareSm2Signer:
        """A new key pair; GmSSL draws the private key from the kernel (``/dev/urandom``)."""
        public, private = gmsslext.sm2_key_generate()
        return cls.from_private_bytes(private, Sm2PublicKey.from_uncompressed(b"\x04" + public))

    @classmethod
    def from_private_bytes(cls, private: bytes, public: Sm2PublicKey) -> SoftwareSm2Signer:
        """The key pair of a stored private scalar (32 bytes, big-endian, in [1, n − 2]) and
        its public key, refused unless they belong together (a pairwise consistency check:
        one signature, verified)."""
        d = int.from_bytes(private, "big")
        if len(private) != 32 or not 0 < d < N - 1:
            raise GmKeyInvalid("an SM2 private key is a 32-byte scalar in [1, n - 2]")
        signer = cls(private, public)
        try:
            public.verify(signer.sign(_PAIRWISE_CHECK), _PAIRWISE_CHECK)
        except GmSignatureInvalid:
            raise GmKeyInvalid("the public key given is not the private key's") from None
        return signer

    @classmethod
    def from_seed(cls, seed: bytes) -> SoftwareSm2Signer:
        """The key pair whose private key is ``d = (seed mod (n − 2)) + 1`` (a 32-byte seed
        from the key schedule; the bias of the reduction is below 2^-95): every worker of a hub
        derives the same key from its master secret.

        GmSSL's Python API cannot compute ``d·G`` by itself, so the public key is recovered
        from one signature by ``d`` over a fixed digest ``e``: ``s = (1 + d)^-1 (k − r·d)``
        gives ``(r + s)·P = R − s·G`` with ``R = k·G`` whose x is ``r − e``. Only public values
        (r, s, e, points) enter that arithmetic; of the (at most four) candidates, the one the
        signature verifies under is taken, and the pair is then checked as
        :meth:`from_private_bytes` checks any pair."""
        if len(seed) < 32:
            raise ValueError("an SM2 key seed is at least 32 bytes")
        d = int.from_bytes(seed, "big") % (N - 2) + 1
        private = d.to_bytes(32, "big")
        return cls.from_private_bytes(private, _recovered_public_key(private))

    @property
    def public_key(self) -> Sm2PublicKey:
        return self._public

    def private_bytes(self) -> bytes:
        """The private scalar, 32 bytes big-endian: store it only encrypted."""
        return self._private

    def sign(self, message: bytes, *, distinguishing_id: bytes = DISTINGUISHING_ID) -> bytes:
        """SM2 of ``e = SM3(Z ‖ message)``; Z is computed once per key (for the standard ID),
        and GmSSL signs ``e`` (``sm2_sign_sm3_digest``): its whole-message ``sm2_sign`` sets
        the key up again on every call, some eight times slower."""
        if distinguishing_id == DISTINGUISHING_ID:
            z = self._z
        else:
            z = z_value(self._public, _checked_id(distinguishing_id))
        der = gmsslext.sm2_sign_sm3_digest(self._private, sm3(z + message))
        return signature_from_der(der)

    def __repr__(self) -> str:
        return f"SoftwareSm2Signer(public={self._public.to_jwk()!r})"


_Point = tuple[int, int] | None  # affine, None the point at infinity


def _add(p1: _Point, p2: _Point) -> _Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        slope = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def _multiply(k: int, point: _Point) -> _Point:
    """k·point by double-and-add: for public scalars only (it is not constant time)."""
    result: _Point = None
    while k:
        if k & 1:
            result = _add(result, point)
        point, k = _add(point, point), k >> 1
    return result


def _recovered_public_key(private: bytes) -> Sm2PublicKey:
    """d·G for the private scalar *private*, from one signature over a fixed digest
    (:meth:`SoftwareSm2Signer.from_seed` says how). A digest signature checks only the x of
    ``(r + s)·P + s·G``, which ``P`` and its mirror candidate share, so a second signature, over
    another digest, picks the one."""
    der = gmsslext.sm2_sign_sm3_digest(private, _RECOVERY_DIGEST)
    second_digest = _RECOVERY_DIGEST[::-1]
    second = gmsslext.sm2_sign_sm3_digest(private, second_digest)
    raw = signature_from_der(der)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    e = int.from_bytes(_RECOVERY_DIGEST, "big")
    scale = pow((r + s) % N, -1, N)
    minus_s_g = _multiply(N - s, (GX, GY))
    x = (r - e) % N
    for x1 in (x, x + N):
        if x1 >= P:
            continue
        y = pow((x1**3 + A * x1 + B) % P, (P + 1) // 4, P)
        for y1 in (y, P - y):
            if (y1 * y1 - (x1**3 + A * x1 + B)) % P:
                continue
            candidate = _multiply(scale, _add((x1, y1), minus_s_g))
            if candidate is None:
                continue
            if _verifies(candidate, second_digest, second):
                return Sm2PublicKey(*candidate)
    raise GmKeyInvalid("no public key verifies the private key's signatures")


def _verifies(point: tuple[int, int], digest: bytes, der: bytes) -> bool:
    """GB/T 32918.2 §7 verification of a digest signature, on public values only (in Python,
    so that GmSSL does not print a failed candidate to stderr); the key found is then checked
    by GmSSL in :meth:`SoftwareSm2Signer.from_private_bytes`."""
    raw = signature_from_der(der)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    t = (r + s) % N
    if t == 0:
        return False
    total = _add(_multiply(s, (GX, GY)), _multiply(t, point))
    return total is not None and (int.from_bytes(digest, "big") + total[0]) % N == r
