"""Witness cosignatures (c2sp.org/tlog-cosignature) and witness policies (c2sp.org/tlog-policy):
what a verifier accepts, what it refuses, and what it says when a policy is not met."""

from __future__ import annotations

import base64
import hashlib
import struct
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey

from exchange.audit.checkpoint import Checkpoint, NoteSigner
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.cosignature import Cosigner, parse_cosigner_vkey
from exchange.audit.errors import CheckpointError, WitnessPolicyError
from exchange.audit.policy import parse_policy
from exchange.audit.witnessing import Witnessing

ORIGIN = "hub.example.gov.cn/audit-log"
CHECKPOINT = Checkpoint(ORIGIN, 42, hashlib.sha256(b"a tree").digest())
TIME = 1_780_000_000
HOUR = timedelta(hours=1)


def seeded(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)


LOG = NoteSigner(ORIGIN, seeded(1))
X = [Cosigner(f"x{i}.example/w", seeded(10 + i)) for i in range(3)]
Y = [Cosigner(f"y{i}.example/w", seeded(20 + i)) for i in range(3)]


def two_level_policy() -> str:
    """The example of c2sp.org/tlog-policy, with real keys: 2 of the X witnesses and any Y."""
    lines = [f"log {LOG.vkey()}", ""]
    lines += [f"witness X{i} {w.vkey()}" for i, w in enumerate(X)]
    lines += ["group X-witnesses 2 X0 X1 X2", "  # a comment", ""]
    lines += [f"\twitness Y{i}  {w.vkey()}" for i, w in enumerate(Y)]
    lines += ["group Y-witnesses any Y0 Y1 Y2", "group X-and-Y all X-witnesses Y-witnesses"]
    lines += ["quorum X-and-Y"]
    return "\n".join(lines) + "\n"


def cosigned(*cosigners: Cosigner, checkpoint: Checkpoint = CHECKPOINT) -> str:
    note = LOG.sign(checkpoint)
    return note + "".join(c.cosign(checkpoint, TIME + i) for i, c in enumerate(cosigners))


def test_the_ed25519_cosignature_is_the_c2sp_message_and_key_id() -> None:
    witness = X[0]
    line = witness.cosign(CHECKPOINT, TIME)
    blob = base64.b64decode(line.removeprefix(f"— {witness.name} ").rstrip("\n"))
    public = witness.public_key
    assert blob[:4] == hashlib.sha256(witness.name.encode() + b"\n\x04" + public).digest()[:4]
    assert struct.unpack(">Q", blob[4:12]) == (TIME,)
    message = f"cosignature/v1\ntime {TIME}\n".encode() + CHECKPOINT.body()
    seeded(10).public_key().verify(blob[12:], message)  # raises if it is not that message
    assert witness.vkey().startswith(f"{witness.name}+{blob[:4].hex()}+")
    assert base64.b64decode(witness.vkey().split("+", 2)[2])[:1] == b"\x04"


def test_the_ml_dsa_44_cosignature_commits_to_the_name_and_the_tree() -> None:
    private = MLDSA44PrivateKey.from_seed_bytes(bytes(32))
    witness = Cosigner("pq.example/w", private)
    line = witness.cosign(CHECKPOINT, TIME)
    blob = base64.b64decode(line.removeprefix("— pq.example/w ").rstrip("\n"))
    assert len(blob) == 4 + 8 + 2420
    assert blob[:4] == hashlib.sha256(b"pq.example/w\n\x06" + witness.public_key).digest()[:4]
    message = (
        b"subtree/v1\n\x00"
        + bytes([12])
        + b"pq.example/w"
        + struct.pack(">Q", TIME)
        + bytes([len(ORIGIN)])
        + ORIGIN.encode()
        + struct.pack(">QQ", 0, 42)
        + CHECKPOINT.root
    )
    MLDSA44PublicKey.from_public_bytes(witness.public_key).verify(blob[12:], message)
    verifier = parse_cosigner_vkey(witness.vkey())
    found = verifier.find(LOG.sign(CHECKPOINT) + line)
    assert found is not None
    assert found.timestamp == TIME


def test_a_two_level_quorum_is_met_only_by_2_x_and_1_y() -> None:
    policy = parse_policy(two_level_policy())
    assert policy.check(cosigned(X[0], X[2], Y[1])).met
    assert not policy.check(cosigned(X[0], Y[0], Y[1], Y[2])).met
    assert not policy.check(cosigned(X[0], X[1], X[2])).met
    verdict = policy.check(cosigned(X[1], Y[2]))
    assert not verdict.met
    assert verdict.explanation == (
        "the witness policy is not met: it needs all of X-witnesses, Y-witnesses; "
        "cosigned by X1, Y2"
    )
    assert set(verdict.cosigned) == {"X1", "Y2"}
    assert verdict.cosigned["Y2"].timestamp == TIME + 1


def test_lines_of_unknown_keys_are_ignored_and_a_forged_line_is_refused() -> None:
    policy = parse_policy(two_level_policy())
    stranger = Cosigner("x0.example/w", seeded(99))  # the same name, another key
    assert not policy.check(cosigned(stranger, X[1], Y[0])).met
    good = cosigned(X[0], X[1], Y[0])
    assert policy.check(good).met
    forged = X[0].cosign(Checkpoint(ORIGIN, 43, CHECKPOINT.root), TIME)  # for another tree
    with pytest.raises(CheckpointError, match=r"cosignature of x0\.example/w is not valid"):
        policy.check(LOG.sign(CHECKPOINT) + forged)


def test_a_checkpoint_no_listed_log_signed_fails_whatever_its_cosignatures() -> None:
    policy = parse_policy(two_level_policy())
    other_log = NoteSigner(ORIGIN, seeded(2))
    note = other_log.sign(CHECKPOINT) + X[0].cosign(CHECKPOINT, TIME)
    with pytest.raises(CheckpointError, match="no log of the witness policy signed"):
        policy.check(note)
    with pytest.raises(CheckpointError, match="does not list the log"):
        policy.check(cosigned(X[0]), origin="another.example/log")


def test_quorum_none_and_a_single_witness() -> None:
    assert parse_policy(f"log {LOG.vkey()}\nquorum none\n").check(LOG.sign(CHECKPOINT)).met
    single = parse_policy(f"log {LOG.vkey()}\nwitness A {X[0].vkey()}\nquorum A\n")
    assert not single.check(LOG.sign(CHECKPOINT)).met
    assert single.check(cosigned(X[0])).met
    assert single.describe_quorum() == "A"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("quorum none\nquorum none\n", "line 2: the witness policy has a second quorum line"),
        (f"witness A {X[0].vkey()}\n", "exactly one quorum line"),
        ("frobnicate\nquorum none\n", "line 1: unknown line kind 'frobnicate'"),
        ("group G any A\nquorum none\n", "line 1: the group member 'A' is not defined above"),
        ("quorum A\n", "line 1: the quorum 'A' is not defined above"),
        (f"witness none {X[0].vkey()}\nquorum none\n", "'none' is reserved"),
        (f"witness A {X[0].vkey()}\nwitness A {X[1].vkey()}\nquorum A\n", "defined twice"),
        (f"witness A {X[0].vkey()}\nwitness B {X[0].vkey()}\nquorum A\n", "repeats a public key"),
        (f"witness A {X[0].vkey()}\ngroup G 2 A\nquorum G\n", "larger than its members"),
        (f"witness A {X[0].vkey()}\ngroup G 0 A\nquorum G\n", "all, any or a number from 1"),
        (f"witness A {X[0].vkey()}\ngroup G any A A\nquorum G\n", "lists a member twice"),
        (f"witness A {LOG.vkey()}\nquorum A\n", "not a cosignature key"),
        (f"log {X[0].vkey()}\nquorum none\n", "not an Ed25519 key"),
        (f"witness A {X[0].vkey()} ftp://x.example\nquorum A\n", "http or https"),
        (f"witness A {X[0].vkey()[:-4]}AAA=\nquorum A\n", "line 1:"),
    ],
)
def test_a_bad_policy_is_refused_naming_its_line(text: str, problem: str) -> None:
    with pytest.raises(WitnessPolicyError) as refused:
        parse_policy(text)
    assert problem in str(refused.value)


def test_a_tampered_vkey_id_is_refused() -> None:
    name, kid, key = X[0].vkey().split("+", 2)
    wrong = f"{name}+{int(kid, 16) ^ 1:08x}+{key}"
    with pytest.raises(CheckpointError, match="id does not match"):
        parse_cosigner_vkey(wrong)


def test_the_hub_refuses_a_policy_file_it_cannot_use_naming_the_file_and_line(
    tmp_path: Path,
) -> None:
    signer = CheckpointSigner("a-policy-test-secret-long-enough-0123456789", ORIGIN, interval=HOUR)
    bad = tmp_path / "bad.policy"
    bad.write_text("witness A bogus\nquorum A\n", encoding="utf-8")
    with pytest.raises(WitnessPolicyError) as refused:
        Witnessing.from_file(signer, bad)
    assert str(refused.value) == f"the witness policy {bad}, line 1: the verifier key is malformed"
    with pytest.raises(WitnessPolicyError, match=r"absent\.policy cannot be read"):
        Witnessing.from_file(signer, tmp_path / "absent.policy")
    other_log = tmp_path / "other.policy"
    other_log.write_text(f"log {LOG.vkey()}\nquorum none\n", encoding="utf-8")
    with pytest.raises(WitnessPolicyError, match="another key for this hub's log"):
        Witnessing.from_file(signer, other_log)
    no_witness = Witnessing.from_file(signer, None)
    assert no_witness.policy_text == f"log {signer.vkey()}\nquorum none\n"
    assert not no_witness.configured
