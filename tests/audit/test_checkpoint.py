"""Signed checkpoints: the C2SP note format byte for byte (against the Go sumdb and signed-note
published examples), key ids and vkeys, and refusal of every kind of tampering."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.audit import merkle
from exchange.audit.checkpoint import Checkpoint, NoteSigner, key_id, parse_vkey
from exchange.audit.errors import CheckpointError
from schemas import TongbanError

NAME = "tongban.example/audit"
SEED = bytes(range(32))
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
SIGNER = NoteSigner(NAME, KEY)
VERIFIER = parse_vkey(SIGNER.vkey())
ROOT = merkle.root([merkle.leaf_hash(b"entry 0"), merkle.leaf_hash(b"entry 1")])
CHECKPOINT = Checkpoint(NAME, 2, ROOT)
NOTE = SIGNER.sign(CHECKPOINT)

# golang.org/x/mod/sumdb/note, package documentation: a signer key, its verifier key, and the
# note it signs (Ed25519 is deterministic, so signing the text again gives the same bytes).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# c2sp.org/signed-note, its example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def raw_note(text: str, key: Ed25519PrivateKey = KEY, name: str = NAME) -> str:
    """A note signed by hand, for texts our signer would refuse to sign."""
    pub = key.public_key().public_bytes_raw()
    blob = key_id(name, pub) + key.sign(text.encode("utf-8"))
    return f"{text}\n— {name} {base64.b64encode(blob).decode()}\n"


# --- the format ------------------------------------------------------------------------------


def test_a_signed_checkpoint_round_trips() -> None:
    assert VERIFIER.verify(NOTE) == CHECKPOINT
    assert VERIFIER.verify(NOTE, origin=NAME) == CHECKPOINT
    with_extensions = Checkpoint(NAME, 2, ROOT, ("Timestamp: 1700000000", "中文 extension"))
    assert VERIFIER.verify(SIGNER.sign(with_extensions)) == with_extensions


def test_the_note_is_body_blank_line_and_signature_line() -> None:
    body = f"{NAME}\n2\n{base64.b64encode(ROOT).decode()}\n"
    assert CHECKPOINT.body() == body.encode()
    text, signature_line = NOTE.split("\n\n")
    assert text + "\n" == body
    match = re.fullmatch(r"\u2014 (\S+) ([A-Za-z0-9+/]+=*)\n", signature_line)
    assert match is not None
    assert match.group(1) == NAME
    blob = base64.b64decode(match.group(2))
    assert blob[:4] == SIGNER.key_id
    KEY.public_key().verify(blob[4:], body.encode())  # raises if not Ed25519 over the body


def test_key_id_is_the_spec_formula() -> None:
    pub = KEY.public_key().public_bytes_raw()
    by_hand = hashlib.sha256(NAME.encode() + b"\x0a" + b"\x01" + pub).digest()[:4]
    assert SIGNER.key_id == key_id(NAME, pub) == by_hand
    assert SIGNER.key_id.hex() == "3a15d22e"


def test_vkey_format() -> None:
    pub = KEY.public_key().public_bytes_raw()
    typed_key = base64.b64encode(b"\x01" + pub).decode()
    assert SIGNER.vkey() == f"{NAME}+3a15d22e+{typed_key}"
    assert VERIFIER.vkey() == SIGNER.vkey()
    assert (VERIFIER.name, VERIFIER.key_id, VERIFIER.public_key) == (NAME, SIGNER.key_id, pub)


def test_the_go_sumdb_example_signs_and_opens_byte_for_byte() -> None:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[:1] == b"\x01"
    signer = NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed[1:]))
    assert signer.vkey() == GO_VKEY
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.sign_text(GO_TEXT) == GO_NOTE
    assert parse_vkey(GO_VKEY).open(GO_NOTE) == GO_TEXT


def test_the_signed_note_spec_example_opens() -> None:
    verifier = parse_vkey(SPEC_VKEY)
    assert verifier.key_id.hex() == "530d903a"
    assert verifier.open(SPEC_NOTE) == "This is an example message.\n"
    with pytest.raises(CheckpointError, match="checkpoint needs"):
        verifier.verify(SPEC_NOTE)  # a valid note, but not a checkpoint


def test_signatures_of_other_keys_are_ignored() -> None:
    witness = Ed25519PrivateKey.from_private_bytes(bytes(32))
    cosigned = (
        NOTE + raw_note(CHECKPOINT.body().decode(), witness, "witness.example").split("\n\n")[1]
    )
    assert VERIFIER.verify(cosigned) == CHECKPOINT
    # ...but the note must carry ours.
    with pytest.raises(CheckpointError, match="not signed by the key"):
        VERIFIER.verify(raw_note(CHECKPOINT.body().decode(), witness, "witness.example"))


# --- tampering -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "replacement"),
    [
        (0, "tongban.example/other"),
        (1, "3"),
        (2, base64.b64encode(bytes(32)).decode()),
        (3, "Timestamp: 1700000001"),
    ],
)
def test_changing_any_body_line_is_refused(line: int, replacement: str) -> None:
    note = SIGNER.sign(Checkpoint(NAME, 2, ROOT, ("Timestamp: 1700000000",)))
    lines = note.split("\n")
    lines[line] = replacement
    with pytest.raises(CheckpointError, match="signature is not valid"):
        VERIFIER.verify("\n".join(lines))


@pytest.mark.parametrize("byte", [0, 1, 3, 4, 5, 40, 67])
def test_changing_the_signature_or_key_id_is_refused(byte: int) -> None:
    text, line = NOTE.split("\n\n")
    prefix, encoded = line.rstrip("\n").rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[byte] ^= 0x01
    tampered = f"{text}\n\n{prefix} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(CheckpointError, match=r"signature is not valid|not signed by the key"):
        VERIFIER.verify(tampered)


@pytest.mark.parametrize("name", ["tongban.example/Audit", "tongban.example/audit2", "x"])
def test_changing_the_key_name_is_refused(name: str) -> None:
    with pytest.raises(CheckpointError, match="not signed by the key"):
        VERIFIER.verify(NOTE.replace(f"— {NAME} ", f"— {name} "))


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_any_single_character_change_is_refused(data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(NOTE) - 1))
    char = data.draw(st.sampled_from("\n A/+=0ab—\r").filter(lambda c: c != NOTE[at]))
    with pytest.raises(CheckpointError):
        VERIFIER.verify(NOTE[:at] + char + NOTE[at + 1 :])


@pytest.mark.parametrize(
    "note",
    [
        "",
        NOTE.split("\n\n")[0] + "\n",  # no signature block
        NOTE.rstrip("\n"),  # signature line without its newline
        NOTE + "\n",  # a blank line after the signatures
        NOTE.replace("\n", "\r\n"),
        NOTE.replace("—", "-"),
        NOTE.replace("— ", "—  "),
        NOTE + "— witness.example\n",
        NOTE + "— witness.example AAAA\n",  # shorter than a key id and one byte
        NOTE + "— witness.example not-base64!\n",
        NOTE + "\x00",
        NOTE + "x" * 70_000,
        NOTE + "— witness.example AAAAAAA=\n" * 100,
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(CheckpointError):
        VERIFIER.verify(note)


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(CheckpointError, match="may not hold"):
        VERIFIER.verify("\ud800" + NOTE)


def test_non_canonical_base64_in_the_signature_is_refused() -> None:
    text, line = NOTE.split("\n\n")
    prefix, encoded = line.rstrip("\n").rsplit(" ", 1)
    # 68 bytes encode to 92 characters ending in "=": its last data character carries 2 unused
    # bits; setting one decodes to the same bytes through a lenient decoder.
    last = encoded[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sibling = alphabet[alphabet.index(last) ^ 1]
    odd = encoded[:-2] + sibling + "="
    assert base64.b64decode(odd) == base64.b64decode(encoded)
    with pytest.raises(CheckpointError, match="canonical"):
        VERIFIER.verify(f"{text}\n\n{prefix} {odd}\n")


# --- the checkpoint body ---------------------------------------------------------------------

B64_ROOT = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{NAME}\n02\n{B64_ROOT}\n", "decimal"),
        (f"{NAME}\n+2\n{B64_ROOT}\n", "decimal"),
        (f"{NAME}\n-1\n{B64_ROOT}\n", "decimal"),
        (f"{NAME}\n2.0\n{B64_ROOT}\n", "decimal"),
        (f"{NAME}\n٢\n{B64_ROOT}\n", "decimal"),
        (f"{NAME}\n 2\n{B64_ROOT}\n", "decimal"),
        (f"{NAME}\n{2**64}\n{B64_ROOT}\n", "out of range"),
        (f"{NAME}\n{'9' * 21}\n{B64_ROOT}\n", "decimal"),
        (f"{NAME}\n2\n{base64.b64encode(ROOT[:31]).decode()}\n", "32 bytes"),
        (f"{NAME}\n2\n{B64_ROOT.rstrip('=')}\n", "base64"),
        (f"{NAME}\n2\n", "needs an origin"),
        (f"\n2\n{B64_ROOT}\n", "origin"),
        (f"{NAME}\n2\n{B64_ROOT}\n\nextension\n", "extension"),
    ],
)
def test_malformed_checkpoint_bodies_are_refused(text: str, message: str) -> None:
    note = raw_note(text)
    with pytest.raises(CheckpointError, match=message):
        VERIFIER.verify(note)


def test_the_largest_size_is_accepted() -> None:
    assert VERIFIER.verify(raw_note(f"{NAME}\n{2**64 - 1}\n{B64_ROOT}\n")).size == 2**64 - 1
    assert VERIFIER.verify(raw_note(f"{NAME}\n0\n{B64_ROOT}\n")).size == 0


def test_another_origin_is_refused_when_one_is_expected() -> None:
    with pytest.raises(CheckpointError, match="another log"):
        VERIFIER.verify(NOTE, origin="tongban.example/other")


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        ("a\tb", 1, ROOT, ()),
        ("log", -1, ROOT, ()),
        ("log", 2**64, ROOT, ()),
        ("log", True, ROOT, ()),
        ("log", "1", ROOT, ()),
        ("log", 1, ROOT[:31], ()),
        ("log", 1, ROOT.hex(), ()),
        ("log", 1, ROOT, ("",)),
        ("log", 1, ROOT, ("two\nlines",)),
    ],
)
def test_checkpoint_refuses_values_it_cannot_write(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint(origin, size, root, extensions)


def test_signer_refuses_texts_the_format_cannot_carry() -> None:
    for text in ("", "no newline", "a\n\nb\n", "\nb\n", "tab\there\n"):
        with pytest.raises(CheckpointError):
            SIGNER.sign_text(text)


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "two words", "a+b", "tab\tname", "nbsp\u00a0name"])
def test_key_names_without_spaces_or_plus(name: str) -> None:
    with pytest.raises(CheckpointError, match="key name"):
        NoteSigner(name, KEY)


def _vkey_parts() -> tuple[str, str, str]:
    name, kid, key = SIGNER.vkey().split("+", 2)
    return name, kid, key


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n, k, b: f"{n}+{k}",
        lambda n, k, b: f"{n}+{k[:7]}+{b}",
        lambda n, k, b: f"{n}+{k}0+{b}",
        lambda n, k, b: f"{n}+zzzzzzzz+{b}",
        lambda n, k, b: f"{n}+{int(k, 16) ^ 1:08x}+{b}",
        lambda n, k, b: f"{n}x+{k}+{b}",
        lambda n, k, b: f"+{k}+{b}",
        lambda n, k, b: f"{n}+{k}+{b[:-4]}",
        lambda n, k, b: f"{n}+{k}+{b}=",
        lambda n, k, b: f"{n}+{k}+" + base64.b64encode(b"\x02" + base64.b64decode(b)[1:]).decode(),
        lambda n, k, b: f"{n}+{k}+" + base64.b64encode(base64.b64decode(b)[1:]).decode(),
    ],
)
def test_malformed_vkeys_are_refused(mangle: Callable[[str, str, str], str]) -> None:
    with pytest.raises(CheckpointError):
        parse_vkey(mangle(*_vkey_parts()))


def test_a_vkey_with_surrounding_whitespace_parses() -> None:
    assert parse_vkey(f"  {SIGNER.vkey()}\n").vkey() == SIGNER.vkey()


def test_a_verifier_of_another_key_refuses() -> None:
    other = NoteSigner(NAME, Ed25519PrivateKey.from_private_bytes(bytes(32)))
    with pytest.raises(CheckpointError, match="not signed by the key"):
        parse_vkey(other.vkey()).verify(NOTE)


def test_the_error_is_a_safe_tongban_error() -> None:
    with pytest.raises(CheckpointError) as caught:
        VERIFIER.verify(NOTE.replace("\n2\n", "\n3\n"))
    error = caught.value
    assert isinstance(error, TongbanError)
    assert (error.code, error.status) == ("invalid_checkpoint", 422)
    assert B64_ROOT not in str(error)
    assert error.problem()["detail"] == "the note's signature is not valid"
