"""Key custody (密钥分割): Shamir k-of-n sharing of the hub master secret.

Every hub secret derives from one master secret (``TONGBAN_SECRET_KEY``), so it must not sit
with one person. :func:`split_secret` cuts it into ``N`` shares of which any ``K`` rebuild it and
``K - 1`` say nothing about it; :func:`join_shares` rebuilds it and proves the result right.

The scheme is Shamir's over GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1), byte by byte: for
each byte of the secret a polynomial of degree ``K - 1`` whose constant term is that byte and
whose other coefficients come from :mod:`secrets`; share ``x`` (1..N) holds the polynomials'
values at ``x``. Joining is Lagrange interpolation at 0.

A share is one line of text a custodian can print, keep offline and paste back::

    tongban-share-v1:<set id>:<K>:<N>:<x>:<kcv>:<payload>:<checksum>

- ``set id``: 16 hex digits, random per split; shares of different splits are never combined.
- ``K``, ``N``, ``x``: the threshold, the number of shares, this share's point (decimal).
- ``kcv``: the key check value, 12 hex digits: the first 6 bytes of
  HMAC-SHA-256(key = secret, message = "tongban-kcv" ‖ set id). The set id is in the message so
  that two splits of the same secret do not carry the same value.
- ``payload``: the share's bytes, base64url without padding (as long as the secret).
- ``checksum``: the first 8 hex digits of SHA-256 over everything before it on the line.

Checks, in this order, each refusing with a :class:`CustodyError` whose message names the share
by its ``x`` (never its text, never the secret):

1. each line: the prefix and version, then the checksum (a mistyped or damaged share), then
   the fields (:func:`parse_share`);
2. the shares together: one set id, K, N, check value and length; no two with the same ``x``;
   at least ``K`` of them (:func:`join_shares`);
3. the result: the check value of the rebuilt secret must match, else a well-formed share is
   wrong. With more than ``K`` shares, ``K``-subsets are tried until one rebuilds the key, then
   every other share must lie on the same polynomials; a share that does not is named.

The arithmetic works on whole byte strings (``bytes.translate`` with a multiplication table), so
a split into 255 shares is quick. It is not constant-time: it runs offline, in the custody
ceremony, not in the serving path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import combinations, islice
from math import comb

from exchange.security.errors import (
    DuplicateShare,
    InvalidSplit,
    NotEnoughShares,
    ShareCorrupted,
    ShareMalformed,
    SharesMixed,
    WrongShare,
)
from exchange.security.secrets import KeyUse, derive

__all__ = [
    "MAX_SECRET_BYTES",
    "Share",
    "join_shares",
    "key_check_value",
    "parse_share",
    "read_shares",
    "split_secret",
]

PREFIX = "tongban-share-v1"
MAX_SHARES = 255  # the non-zero points of GF(2^8)
MAX_SECRET_BYTES = 1024
SET_ID_BYTES = 8
KCV_BYTES = 6
CHECKSUM_HEX = 8
_MAX_SUBSETS = 5000  # K-subsets tried when more than K shares are given and some are wrong

_SHARE_LINE = re.compile(
    rf"{re.escape(PREFIX)}"
    r":(?P<set_id>[0-9a-f]{16})"
    r":(?P<k>[1-9][0-9]{0,2}):(?P<n>[1-9][0-9]{0,2}):(?P<x>[1-9][0-9]{0,2})"
    r":(?P<kcv>[0-9a-f]{12})"
    r":(?P<payload>[A-Za-z0-9_-]+)"
)


# -- errors ----------------------------------------------------------------------------------


# -- GF(2^8) ---------------------------------------------------------------------------------


def _field_tables() -> tuple[list[int], list[int]]:
    """Exponent and logarithm tables for generator 3 modulo x^8 + x^4 + x^3 + x + 1."""
    exp, log = [0] * 510, [0] * 256
    value = 1
    for power in range(255):
        exp[power] = exp[power + 255] = value
        log[value] = power
        doubled = (value << 1) ^ (0x11B if value & 0x80 else 0)
        value ^= doubled  # value * 3 = value * 2 + value
    return exp, log


_EXP, _LOG = _field_tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(2^8)")
    if a == 0:
        return 0
    return _EXP[_LOG[a] + 255 - _LOG[b]]


@cache
def _times(c: int) -> bytes:
    """The table for ``bytes.translate`` that multiplies every byte by ``c``."""
    return bytes(_mul(c, b) for b in range(256))


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a) ^ int.from_bytes(b)).to_bytes(len(a))


def _evaluate(coefficients: Sequence[bytes], x: int) -> bytes:
    """The polynomials (constant term first) at ``x``, by Horner's rule, all bytes at once."""
    table = _times(x)
    value = coefficients[-1]
    for coefficient in reversed(coefficients[:-1]):
        value = _xor(value.translate(table), coefficient)
    return value


def _interpolate(points: Sequence[tuple[int, bytes]], at: int) -> bytes:
    """The value at ``at`` of the polynomials through ``points`` (Lagrange; minus is XOR)."""
    value = 0
    for i, (xi, yi) in enumerate(points):
        basis = 1
        for j, (xj, _) in enumerate(points):
            if j != i:
                basis = _mul(basis, _div(at ^ xj, xi ^ xj))
        value ^= int.from_bytes(yi.translate(_times(basis)))
    return value.to_bytes(len(points[0][1]))


# -- shares ----------------------------------------------------------------------------------


def key_check_value(secret: bytes, set_id: bytes) -> bytes:
    """The key check value (KCV) of ``secret`` in split ``set_id``: 6 bytes of an HMAC."""
    return derive(secret, KeyUse.CUSTODY_CHECK_VALUE, set_id)[:KCV_BYTES]


def _checksum(body: str) -> str:
    return hashlib.sha256(body.encode("ascii")).hexdigest()[:CHECKSUM_HEX]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Share:
    """One custodian's share. Its ``repr`` leaves the payload out."""

    set_id: bytes
    threshold: int
    total: int
    x: int
    kcv: bytes
    payload: bytes = field(repr=False)

    def encode(self) -> str:
        """The share as one line of text, with its checksum."""
        body = ":".join(
            (
                PREFIX,
                self.set_id.hex(),
                str(self.threshold),
                str(self.total),
                str(self.x),
                self.kcv.hex(),
                _b64(self.payload),
            )
        )
        return f"{body}:{_checksum(body)}"

    def document(self, note: str = "") -> str:
        """The share as a file for its custodian: comment lines, then the share line."""
        lines = [
            f"# Tongban master-key share (密钥分割) {self.x} of {self.total}:"
            f" any {self.threshold} of the {self.total} shares rebuild the key.",
            f"# Split {self.set_id.hex()}, key check value {self.kcv.hex()}.{note}",
            "# Keep this file offline. Give it only to `tongban keys join`.",
            self.encode(),
        ]
        return "\n".join(lines) + "\n"


def split_secret(secret: bytes, *, shares: int, threshold: int) -> list[Share]:
    """``shares`` shares of ``secret`` (x = 1..shares), any ``threshold`` of which rebuild it."""
    if not 2 <= threshold <= shares <= MAX_SHARES:
        raise InvalidSplit(
            f"need 2 <= threshold <= shares <= {MAX_SHARES};"
            f" got threshold {threshold}, shares {shares}"
        )
    if not 1 <= len(secret) <= MAX_SECRET_BYTES:
        raise InvalidSplit(f"the secret must be 1 to {MAX_SECRET_BYTES} bytes long")
    set_id = secrets.token_bytes(SET_ID_BYTES)
    kcv = key_check_value(secret, set_id)
    coefficients = [secret] + [secrets.token_bytes(len(secret)) for _ in range(threshold - 1)]
    return [
        Share(set_id, threshold, shares, x, kcv, _evaluate(coefficients, x))
        for x in range(1, shares + 1)
    ]


def parse_share(text: str, *, where: str = "share") -> Share:
    """One share line, checked: prefix, checksum, fields. ``where`` names it in errors."""
    line = text.strip()
    if not line.startswith(PREFIX + ":"):
        if line.startswith("tongban-share-"):
            raise ShareMalformed(f"{where} is of a share format this version does not read")
        raise ShareMalformed(f"{where} is not a Tongban key share")
    body, _, checksum = line.rpartition(":")
    if not hmac.compare_digest(checksum.encode(), _checksum(body).encode()):
        raise ShareCorrupted(
            f"{where} ({_claimed_x(body)}) is corrupted: its checksum does not match;"
            " ask its custodian for a clean copy"
        )
    match = _SHARE_LINE.fullmatch(body)
    if match is None:
        raise ShareMalformed(f"{where} ({_claimed_x(body)}) has a malformed field")
    share = Share(
        set_id=bytes.fromhex(match["set_id"]),
        threshold=int(match["k"]),
        total=int(match["n"]),
        x=int(match["x"]),
        kcv=bytes.fromhex(match["kcv"]),
        payload=_payload(match["payload"], where),
    )
    _check_ranges(share, where)
    return share


def _claimed_x(body: str) -> str:
    """How to name a share whose line may be damaged: its x as written, if it reads as one."""
    fields = body.split(":")
    claimed = fields[4] if len(fields) > 4 else ""
    return f"x={claimed}" if claimed.isdigit() and len(claimed) <= 3 else "x unreadable"


def _payload(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ShareMalformed(f"{where} has a payload that is not base64url") from None
    if _b64(raw) != text or not 1 <= len(raw) <= MAX_SECRET_BYTES:
        raise ShareMalformed(f"{where} has a payload of an impossible length")
    return raw


def _check_ranges(share: Share, where: str) -> None:
    if not 2 <= share.threshold <= share.total <= MAX_SHARES:
        raise ShareMalformed(f"{where} (x={share.x}) has an impossible threshold or share count")
    if share.x > share.total:
        raise ShareMalformed(f"{where} (x={share.x}) has x beyond its share count")


def read_shares(text: str, *, where: str) -> list[Share]:
    """Every share line in ``text``; blank lines and ``#`` comments are skipped."""
    shares = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            shares.append(parse_share(stripped, where=f"{where} line {number}"))
    return shares


# -- joining ---------------------------------------------------------------------------------


def join_shares(shares: Sequence[Share]) -> bytes:
    """The secret the shares were split from, verified against its key check value."""
    if not shares:
        raise NotEnoughShares("no shares given")
    _check_one_split(shares)
    first = shares[0]
    if len(shares) < first.threshold:
        raise NotEnoughShares(
            f"{len(shares)} share(s) given; this split needs {first.threshold} of its {first.total}"
        )
    points = [(s.x, s.payload) for s in sorted(shares, key=lambda s: s.x)]
    secret, used = _rebuild(points, first)
    _check_the_rest(points, used)
    return secret


def _check_one_split(shares: Sequence[Share]) -> None:
    first = shares[0]
    seen: dict[int, Share] = {}
    for share in shares:
        if share.set_id != first.set_id:
            raise SharesMixed(
                f"share x={share.x} is from split {share.set_id.hex()}, share x={first.x}"
                f" from split {first.set_id.hex()}; join shares of one split only"
            )
        same = (share.threshold, share.total, share.kcv, len(share.payload))
        if same != (first.threshold, first.total, first.kcv, len(first.payload)):
            raise SharesMixed(
                f"share x={share.x} disagrees with share x={first.x} on the threshold, share"
                " count, check value or length; one of them was altered"
            )
        if share.x in seen:
            if seen[share.x].payload == share.payload:
                raise DuplicateShare(f"share x={share.x} is given twice; each counts once")
            raise DuplicateShare(f"two different shares claim x={share.x}; one is wrong")
        seen[share.x] = share


def _rebuild(
    points: list[tuple[int, bytes]], group: Share
) -> tuple[bytes, tuple[tuple[int, bytes], ...]]:
    """The first K-subset whose interpolation matches the check value, and the secret."""
    subsets = combinations(points, group.threshold)
    for subset in islice(subsets, _MAX_SUBSETS):
        candidate = _interpolate(subset, 0)
        if _kcv_matches(candidate, group):
            return candidate, subset
    if len(points) == group.threshold:
        raise WrongShare(
            "the shares do not reconstruct the key: one is wrong (the key check value does not"
            " match); add another custodian's share to find out which"
        )
    tried = "no" if comb(len(points), group.threshold) <= _MAX_SUBSETS else "none of the first"
    raise WrongShare(
        f"the shares do not reconstruct the key: {tried} {group.threshold}-share combinations"
        f" of the {len(points)} given rebuild a key that matches the key check value;"
        " several shares are wrong"
    )


def _kcv_matches(candidate: bytes, group: Share) -> bool:
    return hmac.compare_digest(key_check_value(candidate, group.set_id), group.kcv)


def _check_the_rest(points: list[tuple[int, bytes]], used: tuple[tuple[int, bytes], ...]) -> None:
    """Every share outside the subset that rebuilt the key must lie on the same polynomials."""
    others = [p for p in points if p not in used]
    wrong = [x for x, y in others if not hmac.compare_digest(_interpolate(used, x), y)]
    if wrong:
        names = ", ".join(f"x={x}" for x in wrong)
        raise WrongShare(
            f"share(s) {names} do not agree with the others, which do rebuild the key;"
            " leave them out and join again, then make a new split"
        )
