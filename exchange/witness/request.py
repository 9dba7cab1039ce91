"""The add-checkpoint request of C2SP tlog-witness, read strictly.

The body is an old size line ``old <size>``, zero to 63 consistency-proof lines (one base64
32-byte hash each: SHA-256, or SM3 for a ``gm`` log), an empty line, then the checkpoint as a
signed note; every line ends in a newline. :func:`parse_add_checkpoint` checks, in this order,
and refuses with :class:`MalformedWitnessRequest` (400) at the first failure: the body's size;
UTF-8; the empty line after the proof; the old size line (decimal without leading zeros, at
most 2^63 - 1); the number of proof lines and each one's canonical base64 of 32 bytes; the
note's form (c2sp.org/signed-note: text, a blank line, signature lines); the checkpoint's form
(c2sp.org/tlog-checkpoint: origin, size, root, extension lines), its size at most 2^63 - 1.

Nothing here is trusted yet: the signatures are checked by :mod:`exchange.witness.service`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exchange.audit.checkpoint import Checkpoint, b64, b64decode, parse_checkpoint, split_note
from exchange.audit.errors import CheckpointError
from exchange.witness.errors import MalformedWitnessRequest

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_PROOF_LINES",
    "MAX_TREE_SIZE",
    "AddCheckpoint",
    "NoteSignature",
    "parse_add_checkpoint",
]

MAX_BODY_BYTES = 1024 * 1024
"""The largest request body taken: a note is at most 64 Ki characters (4 bytes each at most),
the proof 63 lines of 45 bytes; anything larger is not a checkpoint."""
MAX_PROOF_LINES = 63
MAX_TREE_SIZE = 2**63 - 1
"""Sizes are stored as signed 64-bit integers (as the Go implementations do)."""

_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,18})")


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of the note: key name, 4-byte key id, signature."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The line as the note spells it (base64 is canonical, so it is the line received)."""
        return f"— {self.name} {b64(self.key_id + self.signature)}"


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request, well formed but not yet verified."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str
    text: str  # the note's signed text: the checkpoint body
    checkpoint: Checkpoint
    signatures: tuple[NoteSignature, ...]


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """The request in *body*, or :class:`MalformedWitnessRequest` naming the first problem."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedWitnessRequest(f"the request is larger than {MAX_BODY_BYTES} bytes")
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedWitnessRequest("the request is not UTF-8 text") from None
    head, blank, note = decoded.partition("\n\n")
    if not blank:
        raise MalformedWitnessRequest("the request has no empty line before the checkpoint")
    old_line, *proof_lines = head.split("\n")
    old_size = _old_size(old_line)
    proof = _proof(proof_lines)
    try:
        text, signatures = split_note(note)
        checkpoint = parse_checkpoint(text)
    except CheckpointError as exc:
        raise MalformedWitnessRequest(f"the checkpoint note is malformed: {exc.detail}") from None
    if checkpoint.size > MAX_TREE_SIZE:
        raise MalformedWitnessRequest("the checkpoint's size is larger than 2^63 - 1")
    lines = tuple(NoteSignature(name, kid, sig) for name, kid, sig in signatures)
    return AddCheckpoint(old_size, proof, note, text, checkpoint, lines)


def _old_size(line: str) -> int:
    if not _OLD_LINE.fullmatch(line):
        raise MalformedWitnessRequest(
            "the first line must be 'old <size>', the size in decimal without leading zeros"
        )
    size = int(line[4:])
    if size > MAX_TREE_SIZE:
        raise MalformedWitnessRequest("the old size is larger than 2^63 - 1")
    return size


def _proof(lines: list[str]) -> tuple[bytes, ...]:
    if len(lines) > MAX_PROOF_LINES:
        raise MalformedWitnessRequest(f"the proof has more than {MAX_PROOF_LINES} lines")
    hashes = []
    for number, line in enumerate(lines, start=1):
        try:
            value = b64decode(line, "a proof line")
        except CheckpointError:
            value = b""
        if len(value) != 32:
            raise MalformedWitnessRequest(
                f"proof line {number} is not one 32-byte hash in canonical base64"
            )
        hashes.append(value)
    return tuple(hashes)
