"""Signed checkpoints (检查点) of the audit log: C2SP tlog-checkpoint inside a C2SP signed note.

A checkpoint body (c2sp.org/tlog-checkpoint) is the origin line, the tree size in decimal, the
base64 root hash, then any extension lines, each ending in a newline. The note
(c2sp.org/signed-note) is that body, a blank line, and one line per signature:
``— <key name> <base64(key id ‖ signature of the body)>``; the key id is the first 4 bytes of
SHA-256(name ‖ 0x0A ‖ type ‖ public key), and the verifier key is published as
``<name>+<hex key id>+<base64(type ‖ public key)>``. Two signature types:

- Ed25519 (the ``intl`` profile): type ``0x01``, the 32-byte public key, a 64-byte signature;
- SM2 with SM3 and the distinguishing ID ``1234567812345678`` (the ``gm`` profile, docs/gm.md):
  type ``0xff ‖ "tongban/sm2-sm3"`` (C2SP's reserved ``0xff`` followed by an identifier), the
  65-byte uncompressed point, a 64-byte raw ``r ‖ s`` signature.

:meth:`NoteVerifier.verify` checks, in this order, and refuses with :class:`CheckpointError` at
the first failure: the note's size; UTF-8 with no control character but the newline; the split
at the last blank line into body and signature lines; the form of every signature line; that
at least one line carries this verifier's key name and key id; that every such line's
signature is valid over the body. Only then is the body read as a checkpoint. Lines from other
keys (a witness's cosignature, an older key) are ignored, as the signed-note spec says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from exchange.audit.errors import CheckpointError
from exchange.security.gm.errors import GmKeyInvalid, GmSignatureInvalid
from exchange.security.gm.profile import GM
from exchange.security.gm.sm2 import Sm2PublicKey, Sm2Signer

__all__ = [
    "Checkpoint",
    "NoteSigner",
    "NoteVerifier",
    "b64",
    "b64decode",
    "check_key_name",
    "key_id",
    "parse_checkpoint",
    "parse_vkey",
    "split_note",
    "vkey_parts",
]

ED25519 = b"\x01"  # the signed-note signature type of Ed25519
SM2_SM3 = GM.note_signature_type  # 0xff ‖ "tongban/sm2-sm3" (docs/gm.md)
_SM2_POINT_BYTES = 65
MAX_NOTE_CHARS = 64 * 1024
MAX_SIGNATURES = 100  # as golang.org/x/mod/sumdb/note
MAX_SIZE = 2**64 - 1
_SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, then a space
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")


@dataclass(frozen=True)
class Checkpoint:
    """The log's size and root hash at one moment, for the log named by *origin*."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "the origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError("the tree size must be an integer")
        if not 0 <= self.size <= MAX_SIZE:
            raise CheckpointError("the tree size is out of range")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise CheckpointError("the root hash must be 32 bytes")
        for line in self.extensions:
            _check_line(line, "an extension line")

    def body(self) -> bytes:
        """The signed text (tlog-checkpoint): origin, size, base64 root, extension lines."""
        lines = [self.origin, str(self.size), b64(self.root), *self.extensions]
        return "".join(f"{line}\n" for line in lines).encode("utf-8")


def key_id(name: str, public_key: bytes, signature_type: bytes = ED25519) -> bytes:
    """The 4-byte signed-note key id: SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4] (type 0x01 for
    Ed25519, :data:`SM2_SM3` for SM2)."""
    material = name.encode("utf-8") + b"\n" + signature_type + public_key
    return hashlib.sha256(material).digest()[:4]


class NoteSigner:
    """Signs checkpoints as signed notes with one named key: Ed25519, or SM2 through an
    :class:`~exchange.security.gm.sm2.Sm2Signer` (a certified module can stand there)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey | Sm2Signer) -> None:
        check_key_name(name)
        self.name = name
        self._private_key = private_key
        if isinstance(private_key, Ed25519PrivateKey):
            self.signature_type = ED25519
            public = private_key.public_key()
            self.public_key = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        else:
            self.signature_type = SM2_SM3
            self.public_key = private_key.public_key.uncompressed
        self.key_id = key_id(name, self.public_key, self.signature_type)

    def sign(self, checkpoint: Checkpoint) -> str:
        """The note: the checkpoint body, a blank line, this key's signature line."""
        return self.sign_text(checkpoint.body().decode("utf-8"))

    def sign_text(self, text: str) -> str:
        """A signed note over any *text* the signed-note spec allows (non-empty lines, each
        ending in a newline)."""
        _check_text(text)
        signature = self._private_key.sign(text.encode("utf-8"))
        return f"{text}\n{_SIGNATURE_PREFIX}{self.name} {b64(self.key_id + signature)}\n"

    def vkey(self) -> str:
        """The verifier key: ``<name>+<hex key id>+<base64(type ‖ public key)>``."""
        return _vkey(self.name, self.key_id, self.signature_type + self.public_key)


class NoteVerifier:
    """Verifies signed notes against one named key: Ed25519 or SM2."""

    def __init__(self, name: str, public_key: Ed25519PublicKey | Sm2PublicKey) -> None:
        check_key_name(name)
        self.name = name
        self._public_key = public_key
        if isinstance(public_key, Sm2PublicKey):
            self.signature_type = SM2_SM3
            self.public_key = public_key.uncompressed
        else:
            self.signature_type = ED25519
            self.public_key = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.public_key, self.signature_type)

    def vkey(self) -> str:
        """The verifier key this verifier checks against, in the C2SP vkey form."""
        return _vkey(self.name, self.key_id, self.signature_type + self.public_key)

    def verify(self, note: str, *, origin: str | None = None) -> Checkpoint:
        """The checkpoint in *note*, once its signature by this key is verified (and, if
        *origin* is given, once its origin is that one)."""
        checkpoint = parse_checkpoint(self.open(note))
        if origin is not None and checkpoint.origin != origin:
            raise CheckpointError("the checkpoint is for another log")
        return checkpoint

    def open(self, note: str) -> str:
        """The text of *note*, once its signature by this key is verified."""
        text, signatures = split_note(note)
        mine = [sig for name, kid, sig in signatures if (name, kid) == (self.name, self.key_id)]
        if not mine:
            raise CheckpointError(f"the note is not signed by the key {self.name}")
        for signature in mine:
            try:
                self._public_key.verify(signature, text.encode("utf-8"))
            except (InvalidSignature, GmSignatureInvalid):
                raise CheckpointError("the note's signature is not valid") from None
        return text


def parse_vkey(text: str) -> NoteVerifier:
    """The verifier of a C2SP vkey ``<name>+<hex key id>+<base64(type ‖ public key)>``, of an
    Ed25519 (type 0x01) or SM2 (type :data:`SM2_SM3`) key; the key id must be the one the name
    and key give."""
    name, kid, key = vkey_parts(text)
    public: Ed25519PublicKey | Sm2PublicKey
    if len(key) == 33 and key[:1] == ED25519:
        public = Ed25519PublicKey.from_public_bytes(key[1:])
    elif len(key) == len(SM2_SM3) + _SM2_POINT_BYTES and key.startswith(SM2_SM3):
        try:
            public = Sm2PublicKey.from_uncompressed(key[len(SM2_SM3) :])
        except GmKeyInvalid:
            raise CheckpointError("the verifier key's SM2 point is not on the curve") from None
    else:
        raise CheckpointError("the verifier key is not an Ed25519 key, nor an SM2 one")
    verifier = NoteVerifier(name, public)
    if verifier.key_id != kid:
        raise CheckpointError("the verifier key's id does not match its key")
    return verifier


def vkey_parts(text: str) -> tuple[str, bytes, bytes]:
    """The key name, the 4-byte key id and the key material (type byte first) of a C2SP vkey
    ``<name>+<hex key id>+<base64(type ‖ public key)>``, of any signature type."""
    name, _, rest = text.strip().partition("+")
    id_hex, _, key_text = rest.partition("+")
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise CheckpointError("the verifier key is malformed")
    check_key_name(name)
    key = b64decode(key_text, "the verifier key")
    if len(key) < 2:
        raise CheckpointError("the verifier key is too short")
    return name, bytes.fromhex(id_hex), key


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """signed-note: the text and the (name, key id, signature) of every signature line."""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise CheckpointError("the note is too large")
    if not _is_printable(note):
        raise CheckpointError("the note holds characters a note may not hold")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise CheckpointError("the note has no signature block")
    text, lines = note[: split + 1], note[split + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError("the note has too many signatures")
    return text, [_signature_line(line) for line in lines]


def _signature_line(line: str) -> tuple[str, bytes, bytes]:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise CheckpointError("a signature line is malformed")
    name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    check_key_name(name)
    blob = b64decode(encoded, "a signature")
    if len(blob) < 5:
        raise CheckpointError("a signature is too short")
    return name, blob[:4], blob[4:]


def parse_checkpoint(text: str) -> Checkpoint:
    """tlog-checkpoint: origin, size (decimal, no leading zeros), base64 root, extensions."""
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("the checkpoint needs an origin, a size and a root hash")
    origin, size, root, *extensions = lines
    if not _DECIMAL.fullmatch(size):
        raise CheckpointError("the tree size is not a decimal number")
    return Checkpoint(origin, int(size), b64decode(root, "the root hash"), tuple(extensions))


def _check_text(text: str) -> None:
    if not text.endswith("\n") or not _is_printable(text):
        raise CheckpointError("a note's text is lines ending in a newline")
    if text.startswith("\n") or "\n\n" in text:
        raise CheckpointError("a note's text may not hold a blank line")


def _check_line(line: str, what: str) -> None:
    if not isinstance(line, str) or not line or "\n" in line or not _is_printable(line):
        raise CheckpointError(f"{what} must be one non-empty line of text")


def check_key_name(name: str) -> None:
    """signed-note: a key name is non-empty, without spaces or '+'."""
    if not name or "+" in name or any(c.isspace() for c in name) or not _is_printable(name):
        raise CheckpointError("a key name must be non-empty, without spaces or '+'")


def _is_printable(text: str) -> bool:
    """Valid UTF-8 (no lone surrogates) and no ASCII control character except the newline."""
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    """Standard base64 with padding, in its one canonical spelling."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError(f"{what} is not valid base64") from None
    if b64(data) != text:
        raise CheckpointError(f"{what} is not canonical base64")
    return data


def _vkey(name: str, kid: bytes, typed_key: bytes) -> str:
    return f"{name}+{kid.hex()}+{b64(typed_key)}"
