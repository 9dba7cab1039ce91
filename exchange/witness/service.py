"""The witness (见证方): cosigns a log's checkpoint only when it extends the latest checkpoint
of that log the witness cosigned (c2sp.org/tlog-witness, add-checkpoint).

:meth:`Witness.add_checkpoint` checks, in the order the protocol lists them, and refuses at the
first failure (each refusal's status is the protocol's; nothing is stored on a refusal):

1. the request's form (:mod:`exchange.witness.request`): 400;
2. the checkpoint's origin is a log the witness trusts: else 404;
3. at least one signature line of a key the witness trusts for that origin, and every such
   line verifies (lines of other keys are ignored): else 403;
4. the old size is at most the checkpoint's size: else 400;

then, in one write transaction on that log's row (:meth:`WitnessState.advancing`):

5. the old size is the size of the latest checkpoint the witness cosigned for the log (0 when
   none): else 409, answered with that size;
6. a checkpoint of size 0 has the empty tree's root; a request from old size 0 brings no proof;
   a checkpoint of the latest size has the latest root (and no proof); otherwise the proof is
   an RFC 9162 consistency proof from the latest checkpoint to this one: else 422, and the
   refused checkpoint, validly signed by the log, is kept as evidence. The tree's hash (the
   empty root's and the proof's) is the log's, from its keys' type (:class:`LogTree`): SHA-256,
   or SM3 for a ``gm`` log signed with SM2;
7. the cosignature is made at the current POSIX time (never 0), the checkpoint with the log's
   verified signature lines and the cosignature becomes the log's latest, and the transaction
   commits before the cosignature line is returned.

The sign-subtree call, OPTIONAL in tlog-witness, is not offered.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from exchange.audit.checkpoint import Checkpoint, b64
from exchange.audit.cosignature import Cosigner
from exchange.audit.errors import CheckpointError
from exchange.audit.merkle import verify_consistency
from exchange.witness.errors import (
    InconsistentCheckpoint,
    MalformedWitnessRequest,
    OldSizeMismatch,
    UnknownWitnessedLog,
    UntrustedCheckpoint,
)
from exchange.witness.logs import LogTree, TrustedLogs
from exchange.witness.request import AddCheckpoint, NoteSignature, parse_add_checkpoint
from exchange.witness.state import Evidence, Held, StateStep, WitnessState

__all__ = ["Witness"]

Clock = Callable[[], float]


class Witness:
    """A witness: its key, the logs it trusts, its state."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: TrustedLogs,
        state: WitnessState,
        *,
        clock: Clock = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.logs = logs
        self.state = state
        self._clock = clock

    @property
    def name(self) -> str:
        return self.cosigner.name

    def vkey(self) -> str:
        return self.cosigner.vkey()

    def add_checkpoint(self, body: bytes) -> str:
        """The cosignature line(s) on the checkpoint of an add-checkpoint request *body*, once
        the checkpoint is checked and stored; a :class:`WitnessRefusal` otherwise."""
        request = parse_add_checkpoint(body)
        checkpoint = request.checkpoint
        verified = self._log_signatures(request)
        if request.old_size > checkpoint.size:
            raise MalformedWitnessRequest("the old size is larger than the checkpoint's size")
        refusal: InconsistentCheckpoint | None = None
        cosignature = ""
        with self.state.advancing(checkpoint.origin) as step:
            if request.old_size != step.size:
                raise OldSizeMismatch(step.size)
            problem = _inconsistency(request, step.held, self.logs.tree_of(checkpoint.origin))
            if problem is None:
                timestamp = self._now()
                cosignature = self.cosigner.cosign(checkpoint, timestamp)
                note = _served_note(request.text, verified, cosignature)
                step.advance(checkpoint.size, checkpoint.root, note, timestamp)
            else:
                self._keep_evidence(step, request, body, problem)
                refusal = InconsistentCheckpoint(problem)
        if refusal is not None:
            raise refusal  # after the evidence is committed; the log's latest is unchanged
        return cosignature

    def latest_note(self, key: str) -> str | None:
        """The latest cosigned note of the log whose origin hash is *key* (lowercase hex
        SHA-256 of its origin), with the log's and the witness's signatures; ``None`` if the
        witness never cosigned one."""
        held = self.state.latest(key)
        return held.note if held is not None else None

    def _log_signatures(self, request: AddCheckpoint) -> list[NoteSignature]:
        """The signature lines of trusted keys for the checkpoint's origin, each verified."""
        keys = self.logs.keys_of(request.checkpoint.origin)
        if not keys:
            raise UnknownWitnessedLog("this witness does not know the checkpoint's log")
        verified: list[NoteSignature] = []
        for key in keys:
            lines = [
                line
                for line in request.signatures
                if (line.name, line.key_id) == (key.name, key.key_id)
            ]
            if not lines:
                continue
            try:
                key.open(request.note)  # checks every line of this key
            except CheckpointError:
                raise UntrustedCheckpoint(
                    "a signature line of the log's key does not verify"
                ) from None
            verified.extend(line for line in lines if line not in verified)
        if not verified:
            raise UntrustedCheckpoint("the checkpoint is not signed by a key the witness trusts")
        return verified

    def _now(self) -> int:
        """POSIX seconds, never 0 (tlog-witness: the timestamp must not be omitted)."""
        return max(1, int(self._clock()))

    def _keep_evidence(
        self, step: StateStep, request: AddCheckpoint, body: bytes, reason: str
    ) -> None:
        step.record_evidence(
            Evidence(
                origin=request.checkpoint.origin,
                digest=hashlib.sha256(body).hexdigest(),
                received_at=self._now(),
                reason=reason,
                old_size=request.old_size,
                proof="".join(f"{b64(node)}\n" for node in request.proof),
                note=request.note,
                held_note=step.held.note if step.held is not None else None,
            )
        )


def _inconsistency(request: AddCheckpoint, held: Held | None, tree: LogTree) -> str | None:
    """Why the checkpoint does not extend *held* (the request's old size is *held*'s size) in
    a tree hashed as *tree*, or ``None`` when it does."""
    checkpoint: Checkpoint = request.checkpoint
    old, proof = request.old_size, list(request.proof)
    if checkpoint.size == 0 and checkpoint.root != tree.empty_root:
        return "a checkpoint of size 0 must have the empty tree's root"
    if old == 0:
        return "a request from old size 0 brings no consistency proof" if proof else None
    if held is None:  # unreachable: old == the held size, and old > 0
        return "the witness holds no checkpoint of this log"
    if old == checkpoint.size:
        if checkpoint.root != held.root:
            return "the checkpoint has the size of the latest cosigned one but another root"
        return None if not proof else "a checkpoint of the latest size needs no proof"
    if not verify_consistency(
        old, checkpoint.size, proof, held.root, checkpoint.root, node=tree.node_hash
    ):
        return "the consistency proof from the latest cosigned checkpoint does not verify"
    return None


def _served_note(text: str, log_lines: list[NoteSignature], cosignature: str) -> str:
    """The note the monitoring URL serves: the checkpoint, the log's signature lines the
    witness verified, and its own cosignature."""
    lines = "".join(f"{line.line()}\n" for line in log_lines)
    return f"{text}\n{lines}{cosignature}"
