"""The witness's protocol logic in this process, on SQLite and PostgreSQL: what it cosigns, what
it refuses with which status (c2sp.org/tlog-witness), that a refusal leaves its state as it was,
and that two requests racing never move a log's latest checkpoint back."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey

from exchange.audit import merkle
from exchange.audit.checkpoint import NoteSigner, b64, split_note
from exchange.audit.cosignature import Cosigner, parse_cosigner_vkey
from exchange.audit.errors import CheckpointError
from exchange.audit.policy import parse_policy
from exchange.witness.errors import (
    InconsistentCheckpoint,
    MalformedWitnessRequest,
    OldSizeMismatch,
    UnknownWitnessedLog,
    UntrustedCheckpoint,
    WitnessRefusal,
)
from exchange.witness.request import MAX_BODY_BYTES
from exchange.witness.service import Witness
from tests.witness.conftest import WITNESS_NAME, MakeWitness
from tests.witness.helpers import FakeLog, body, forged_line, log_key


def policy_naming(log: FakeLog, witness: Witness) -> str:
    return f"log {log.vkey()}\nwitness {witness.name} {witness.vkey()}\nquorum {witness.name}\n"


# --- what it cosigns ----------------------------------------------------------------------------


def test_a_log_is_cosigned_from_empty_to_n_to_m_and_the_policy_is_met(
    make_witness: MakeWitness,
) -> None:
    log = FakeLog(40)
    seconds = itertools.count(1_800_000_000)
    witness = make_witness(log, clock=lambda: next(seconds) + 0.7)
    verifier = parse_cosigner_vkey(witness.vkey())
    policy = parse_policy(policy_naming(log, witness))
    served: list[str] = []
    for old, size in [(0, 0), (0, 5), (5, 13), (13, 13), (13, 40)]:
        note = log.note(size)
        line = witness.add_checkpoint(log.request(old, size, note=note))
        assert line.startswith(f"— {WITNESS_NAME} ")
        assert line.endswith("\n")
        assert line.count("\n") == 1
        found = verifier.find(note + line)
        assert found is not None
        assert found.checkpoint == log.checkpoint(size)
        assert found.timestamp == 1_800_000_000 + len(served)
        verdict = policy.check(note + line)
        assert verdict.met, verdict.explanation
        assert not policy.check(note).met  # the log's signature alone does not meet it
        latest = witness.latest_note(log.origin_hash)
        assert latest == note + line  # the checkpoint, the log's line, the cosignature
        served.append(latest)
    assert len(set(served)) == len(served)


def test_the_served_note_keeps_the_logs_lines_it_verified_and_drops_the_rest(
    make_witness: MakeWitness,
) -> None:
    log = FakeLog()
    witness = make_witness(log)
    other = Cosigner("witness.other/w9", Ed25519PrivateKey.generate())
    note = log.note(3) + other.cosign(log.checkpoint(3), 1_700_000_000)
    line = witness.add_checkpoint(log.request(0, 3, note=note))
    assert witness.latest_note(log.origin_hash) == log.note(3) + line


def test_a_forged_line_in_the_witnesss_own_name_is_ignored_and_never_served(
    make_witness: MakeWitness,
) -> None:
    """A submitter cannot plant a cosignature of this witness: lines of its own key in the
    request are not the log's, so they are neither trusted nor kept."""
    log = FakeLog()
    witness = make_witness(log)
    real = witness.cosigner.cosign(log.checkpoint(4), 1_700_000_000)
    planted = real[:-6] + ("A" if real[-6] != "A" else "B") + real[-5:]
    line = witness.add_checkpoint(log.request(0, 4, note=log.note(4) + planted))
    assert witness.latest_note(log.origin_hash) == log.note(4) + line
    verifier = parse_cosigner_vkey(witness.vkey())
    with pytest.raises(CheckpointError, match="not valid"):
        verifier.find(log.note(4) + planted)


def test_a_tampered_cosignature_does_not_verify_and_fails_the_policy(
    make_witness: MakeWitness,
) -> None:
    log = FakeLog()
    witness = make_witness(log)
    line = witness.add_checkpoint(log.request(0, 4))
    tampered = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
    with pytest.raises(CheckpointError, match="not valid"):
        parse_cosigner_vkey(witness.vkey()).find(log.note(4) + tampered)
    with pytest.raises(CheckpointError):
        parse_policy(policy_naming(log, witness)).check(log.note(4) + tampered)
    other_size = log.note(5) + line  # the cosignature is on size 4, not 5
    with pytest.raises(CheckpointError, match="not valid"):
        parse_cosigner_vkey(witness.vkey()).find(other_size)


def test_a_log_with_two_keys_is_trusted_under_either(make_witness: MakeWitness) -> None:
    log = FakeLog()
    rotated = NoteSigner(log.origin, log_key())
    second = FakeLog(origin=log.origin)
    second.signer, second.leaves = rotated, log.leaves
    witness = make_witness(log, second)
    witness.add_checkpoint(log.request(0, 4))
    witness.add_checkpoint(second.request(4, 9))
    both = log.note(12) + second.note(12).split("\n\n", 1)[1]
    witness.add_checkpoint(log.request(9, 12, note=both))
    assert witness.latest_note(log.origin_hash) is not None
    assert witness.latest_note(log.origin_hash).count(f"— {log.origin} ") == 2  # type: ignore[union-attr]


def test_the_timestamp_is_now_in_posix_seconds_and_never_zero(make_witness: MakeWitness) -> None:
    log = FakeLog()
    witness = make_witness(log, clock=lambda: 0.4)
    line = witness.add_checkpoint(log.request(0, 2))
    found = parse_cosigner_vkey(witness.vkey()).find(log.note(2) + line)
    assert found is not None
    assert found.timestamp == 1
    now = make_witness(log)
    before = int(time.time())
    line = now.add_checkpoint(log.request(2, 3))
    found = parse_cosigner_vkey(now.vkey()).find(log.note(3) + line)
    assert found is not None
    assert before <= found.timestamp <= int(time.time())


def test_an_ml_dsa_44_witness_cosigns_and_its_line_verifies(make_witness: MakeWitness) -> None:
    log = FakeLog()
    cosigner = Cosigner("witness.test/pq", MLDSA44PrivateKey.generate())
    witness = make_witness(log, cosigner=cosigner)
    line = witness.add_checkpoint(log.request(0, 7))
    assert parse_cosigner_vkey(witness.vkey()).algorithm == "ml-dsa-44"
    found = parse_cosigner_vkey(witness.vkey()).find(log.note(7) + line)
    assert found is not None
    assert found.checkpoint == log.checkpoint(7)
    assert parse_policy(policy_naming(log, witness)).check(log.note(7) + line).met


def test_the_state_survives_a_restart(make_witness: MakeWitness) -> None:
    log = FakeLog()
    make_witness(log).add_checkpoint(log.request(0, 6))
    restarted = make_witness(log)
    with pytest.raises(OldSizeMismatch) as refused:
        restarted.add_checkpoint(log.request(0, 8))
    assert refused.value.latest_size == 6
    restarted.add_checkpoint(log.request(6, 8))


# --- what it refuses ----------------------------------------------------------------------------

HELD = 5  # the refusal cases start with the log's size-5 checkpoint cosigned


def _other_key_note(log: FakeLog) -> str:
    impostor = NoteSigner(log.origin, log_key())
    return impostor.sign(log.checkpoint(9))


def _forged_note(log: FakeLog) -> str:
    text = log.checkpoint(9).body().decode()
    return f"{text}\n{forged_line(log.origin, log.key, text)}"


def _forged_beside_a_good_line(log: FakeLog) -> str:
    return log.note(9) + forged_line(log.origin, log.key, log.checkpoint(9).body().decode())


def _unsigned_note(log: FakeLog) -> str:
    other = Cosigner("witness.other/w9", Ed25519PrivateKey.generate())
    return log.checkpoint(9).body().decode() + "\n" + other.cosign(log.checkpoint(9), 5)


def _tampered(proof: list[bytes]) -> list[bytes]:
    return [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]


Case = Callable[[FakeLog], bytes]

REFUSALS: dict[str, tuple[Case, type[WitnessRefusal], int]] = {
    # 400: not of the protocol's form
    "no empty line": (
        lambda log: log.request(HELD, 9).replace(b"\n\n", b"\n", 1),
        MalformedWitnessRequest,
        400,
    ),
    "no old line": (
        lambda log: log.request(HELD, 9).replace(b"old ", b"new ", 1),
        MalformedWitnessRequest,
        400,
    ),
    "old size with a leading zero": (
        lambda log: log.request(HELD, 9).replace(b"old 5", b"old 05", 1),
        MalformedWitnessRequest,
        400,
    ),
    "negative old size": (
        lambda log: log.request(HELD, 9).replace(b"old 5", b"old -5", 1),
        MalformedWitnessRequest,
        400,
    ),
    "old size over 2^63 - 1": (
        lambda log: body(2**63, [], log.note(9)),
        MalformedWitnessRequest,
        400,
    ),
    "proof line of 31 bytes": (
        lambda log: log.request(HELD, 9, proof=[b"\x01" * 31]),
        MalformedWitnessRequest,
        400,
    ),
    "non-canonical base64 in the proof": (
        lambda log: log.request(HELD, 9).replace(b"=\n", b"\n", 1),
        MalformedWitnessRequest,
        400,
    ),
    "64 proof lines": (
        lambda log: log.request(HELD, 9, proof=[b"\x02" * 32] * 64),
        MalformedWitnessRequest,
        400,
    ),
    "not UTF-8": (
        lambda log: log.request(HELD, 9).replace(b"old 5\n", b"old 5\n\xff\n", 1),
        MalformedWitnessRequest,
        400,
    ),
    "a note without signatures": (
        lambda log: body(HELD, [], log.checkpoint(9).body().decode()),
        MalformedWitnessRequest,
        400,
    ),
    "a body over the limit": (
        lambda log: log.request(HELD, 9) + b"x" * MAX_BODY_BYTES,
        MalformedWitnessRequest,
        400,
    ),
    "old size above the checkpoint's": (
        lambda log: log.request(HELD, 3, proof=[]),
        MalformedWitnessRequest,
        400,
    ),
    # 404: a log the witness does not know
    "an unknown log": (lambda log: FakeLog().request(0, 3), UnknownWitnessedLog, 404),
    # 403: not signed by the log's key, or a line of its key that does not verify
    "signed by another key of the same name": (
        lambda log: log.request(HELD, 9, note=_other_key_note(log)),
        UntrustedCheckpoint,
        403,
    ),
    "a forged signature of the log's key": (
        lambda log: log.request(HELD, 9, note=_forged_note(log)),
        UntrustedCheckpoint,
        403,
    ),
    "a forged line beside a good one": (
        lambda log: log.request(HELD, 9, note=_forged_beside_a_good_line(log)),
        UntrustedCheckpoint,
        403,
    ),
    "only a cosignature, no log signature": (
        lambda log: log.request(HELD, 9, note=_unsigned_note(log)),
        UntrustedCheckpoint,
        403,
    ),
    # 409: a stale old size
    "old size 0 once a checkpoint is held": (lambda log: log.request(0, 9), OldSizeMismatch, 409),
    "an old size the witness never held": (lambda log: log.request(3, 9), OldSizeMismatch, 409),
    "an old size ahead of the witness": (lambda log: log.request(7, 9), OldSizeMismatch, 409),
    # 422: not consistent with the latest cosigned checkpoint
    "a tampered proof": (
        lambda log: log.request(HELD, 9, proof=_tampered(log.proof(HELD, 9))),
        InconsistentCheckpoint,
        422,
    ),
    "an extra proof hash": (
        lambda log: log.request(HELD, 9, proof=[*log.proof(HELD, 9), b"\x03" * 32]),
        InconsistentCheckpoint,
        422,
    ),
    "a missing proof hash": (
        lambda log: log.request(HELD, 9, proof=log.proof(HELD, 9)[:-1]),
        InconsistentCheckpoint,
        422,
    ),
    "no proof at all": (lambda log: log.request(HELD, 9, proof=[]), InconsistentCheckpoint, 422),
    "the proof of another size": (
        lambda log: log.request(HELD, 9, proof=log.proof(HELD, 10)),
        InconsistentCheckpoint,
        422,
    ),
    "a fork: another leaf at the same size": (
        lambda log: log.request(HELD, 9, note=log.note(9, FakeLog(fork="'").root(9))),
        InconsistentCheckpoint,
        422,
    ),
    "the same size with another root": (
        lambda log: log.request(HELD, HELD, note=log.note(HELD, log.root(4))),
        InconsistentCheckpoint,
        422,
    ),
    "the same size and root with a proof": (
        lambda log: log.request(HELD, HELD, proof=[log.root(HELD)]),
        InconsistentCheckpoint,
        422,
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refusal_has_the_protocols_status_and_stores_nothing(
    make_witness: MakeWitness, case: str
) -> None:
    build, refusal, status = REFUSALS[case]
    log = FakeLog()
    witness = make_witness(log)
    witness.add_checkpoint(log.request(0, HELD))
    held = witness.latest_note(log.origin_hash)
    with pytest.raises(refusal) as refused:
        witness.add_checkpoint(build(log))
    assert type(refused.value) is refusal
    assert refused.value.status == status
    if isinstance(refused.value, OldSizeMismatch):
        assert refused.value.latest_size == HELD
    assert witness.latest_note(log.origin_hash) == held
    witness.add_checkpoint(log.request(HELD, 9))  # and it goes on from where it was


FROM_EMPTY: dict[str, tuple[Case, int]] = {
    "size 0 without the empty root": (
        lambda log: log.request(0, 0, note=log.note(0, log.root(1))),
        422,
    ),
    "a proof from old size 0": (lambda log: log.request(0, 4, proof=log.proof(1, 4)), 422),
    "an unknown log": (lambda log: FakeLog().request(0, 0), 404),
    "old size above 0": (lambda log: log.request(1, 4), 409),
}


@pytest.mark.parametrize("case", list(FROM_EMPTY))
def test_a_refusal_before_any_checkpoint_leaves_the_log_uncosigned(
    make_witness: MakeWitness, case: str
) -> None:
    build, status = FROM_EMPTY[case]
    log = FakeLog()
    witness = make_witness(log)
    with pytest.raises(WitnessRefusal) as refused:
        witness.add_checkpoint(build(log))
    assert refused.value.status == status
    if isinstance(refused.value, OldSizeMismatch):
        assert refused.value.latest_size == 0
    assert witness.latest_note(log.origin_hash) is None


def test_a_refusal_never_repeats_the_request(make_witness: MakeWitness) -> None:
    log = FakeLog()
    witness = make_witness(log)
    witness.add_checkpoint(log.request(0, HELD))
    for build, _, _ in REFUSALS.values():
        request = build(log)
        with pytest.raises(WitnessRefusal) as refused:
            witness.add_checkpoint(request)
        detail = refused.value.detail
        assert log.origin not in detail
        assert "tongban.test" not in detail
        assert not any(b64(node) in detail for node in log.proof(HELD, 9))


def test_inconsistent_checkpoints_the_log_signed_are_kept_as_evidence_once(
    make_witness: MakeWitness,
) -> None:
    log = FakeLog()
    witness = make_witness(log)
    witness.add_checkpoint(log.request(0, HELD))
    held = witness.latest_note(log.origin_hash)
    fork = log.request(HELD, HELD, note=log.note(HELD, log.root(4)))
    for _ in range(2):
        with pytest.raises(InconsistentCheckpoint):
            witness.add_checkpoint(fork)
    with pytest.raises(UntrustedCheckpoint):  # not signed by the log: no evidence of anything
        witness.add_checkpoint(log.request(HELD, 9, note=_forged_note(log)))
    with pytest.raises(OldSizeMismatch):  # merely stale
        witness.add_checkpoint(log.request(0, 9))
    kept = [e for e in witness.state.evidence() if e.origin == log.origin]
    assert len(kept) == 1
    assert kept[0].note == log.note(HELD, log.root(4))
    assert kept[0].held_note == held
    assert kept[0].old_size == HELD
    assert "another root" in kept[0].reason
    assert split_note(kept[0].note)[0] == log.checkpoint(HELD, log.root(4)).body().decode()


def test_a_checkpoint_of_an_untrusted_log_is_refused_before_its_signature_is_read(
    make_witness: MakeWitness,
) -> None:
    log, stranger = FakeLog(), FakeLog()
    witness = make_witness(log)
    request = stranger.request(0, 2, note=_forged_note(stranger))
    with pytest.raises(UnknownWitnessedLog):
        witness.add_checkpoint(request)
    with pytest.raises(CheckpointError):
        parse_cosigner_vkey(log.vkey())  # a log's key is not a witness's


# --- racing requests ----------------------------------------------------------------------------


class HeldClock:
    """A clock whose first reading waits until the test lets it go: the witness reads the time
    after its checks and before it stores the checkpoint, inside its transaction."""

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            self.reading.set()
            assert self.release.wait(30)
        return time.time()


@pytest.mark.parametrize("held", [0, 4])
def test_a_request_racing_another_never_rolls_the_state_back(
    make_witness: MakeWitness, held: int
) -> None:
    """tlog-witness's race: A (to size 10) is checked and has not stored yet when B (to 20,
    from the same old size) comes. One of them is cosigned and the other told its size (409);
    had both gone through, A's store would have moved the log from 20 back to 10. Where the
    log's row exists, its lock makes B wait for A; a first row is claimed by whichever
    request inserts it first (on PostgreSQL, B)."""
    log = FakeLog()
    if held:
        make_witness(log).add_checkpoint(log.request(0, held))
    clock = HeldClock()
    slow, fast = make_witness(log, clock=clock), make_witness(log, clock=clock)
    outcomes: dict[int, object] = {}

    def submit(witness: Witness, size: int) -> None:
        try:
            outcomes[size] = witness.add_checkpoint(log.request(held, size))
        except WitnessRefusal as exc:
            outcomes[size] = exc

    a = threading.Thread(target=submit, args=(slow, 10))
    b = threading.Thread(target=submit, args=(fast, 20))
    a.start()
    assert clock.reading.wait(30)
    b.start()
    b.join(1.0)  # B runs as far as it may while A holds off storing
    clock.release.set()
    a.join(30)
    b.join(30)
    [(winner, line)] = [(s, o) for s, o in outcomes.items() if isinstance(o, str)]
    [(_, loser)] = [(s, o) for s, o in outcomes.items() if not isinstance(o, str)]
    assert isinstance(loser, OldSizeMismatch), loser
    assert loser.latest_size == winner
    assert make_witness(log).latest_note(log.origin_hash) == log.note(winner) + line
    if held:  # the row's lock made B wait for A
        assert winner == 10


def test_many_racing_clients_end_at_the_largest_size_without_going_back(
    make_witness: MakeWitness,
) -> None:
    log = FakeLog(64)
    witness = make_witness(log)
    cosigned: list[tuple[int, int]] = []  # (old size, new size) of each accepted checkpoint
    lock = threading.Lock()

    def client(target: int) -> None:
        old = 0
        for _ in range(50):
            if old > target:
                return
            try:
                witness.add_checkpoint(log.request(old, target))
            except OldSizeMismatch as exc:
                old = exc.latest_size
                continue
            with lock:
                cosigned.append((old, target))
            return

    threads = [threading.Thread(target=client, args=(size,)) for size in range(40, 64, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # The witness accepts a checkpoint only from the size it last cosigned, so the accepted
    # ones chain from 0 without a gap or a step back. (The order the clients append in is not
    # the order the witness accepted them: a client records its success after the call.)
    chain = sorted(cosigned)
    assert chain[0][0] == 0
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chain))
    assert all(old < new for old, new in chain)
    assert chain[-1][1] == 61
    assert witness.latest_note(log.origin_hash) is not None
    assert witness.latest_note(log.origin_hash).startswith(f"{log.origin}\n61\n")  # type: ignore[union-attr]


def test_merkle_sanity_the_fake_logs_proofs_verify() -> None:
    log = FakeLog(20)
    assert merkle.verify_consistency(5, 13, log.proof(5, 13), log.root(5), log.root(13))
