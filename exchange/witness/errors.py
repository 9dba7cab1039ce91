"""Errors of the witness, each safe to show: a refusal names what is wrong with a request in
one line and never repeats the request (an origin, a key, a proof) back to its sender.

The refusals of ``add-checkpoint`` carry the HTTP status the C2SP tlog-witness protocol
requires for each case; the witness's app (``exchange/api/witness.py``) answers them in plain
text, one line, as the protocol's clients expect, and the 409 with the latest size alone.
"""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "InconsistentCheckpoint",
    "MalformedWitnessRequest",
    "OldSizeMismatch",
    "UnknownWitnessedLog",
    "UntrustedCheckpoint",
    "WitnessConfigError",
    "WitnessKeyError",
    "WitnessRefusal",
    "WitnessStateError",
]


class WitnessRefusal(TongbanError):
    """The witness refused to cosign a checkpoint, and its latest checkpoint of the log is
    unchanged. The family of the refusals below, each with the status tlog-witness requires."""

    code = "witness_refusal"
    status = 400
    title = "The witness refused the checkpoint"


class MalformedWitnessRequest(WitnessRefusal):
    """The add-checkpoint request is not of the protocol's form (its old size line, its proof
    lines, the note, its size), or its old size is larger than the checkpoint's."""

    code = "witness_malformed_request"
    status = 400
    title = "Malformed add-checkpoint request"


class UnknownWitnessedLog(WitnessRefusal):
    """The checkpoint's origin is not a log this witness was configured to trust."""

    code = "witness_unknown_log"
    status = 404
    title = "Unknown log"


class UntrustedCheckpoint(WitnessRefusal):
    """The checkpoint carries no signature of a key the witness trusts for its log, or a
    signature line of such a key does not verify."""

    code = "witness_untrusted_checkpoint"
    status = 403
    title = "The checkpoint is not signed by the log"


class OldSizeMismatch(WitnessRefusal):
    """The request's old size is not the size of the latest checkpoint the witness cosigned
    for the log (0 when it has cosigned none); ``latest_size`` is that size, which the client
    should prove consistency from."""

    code = "witness_old_size_mismatch"
    status = 409
    title = "The old size is not the witness's latest"

    def __init__(self, latest_size: int) -> None:
        super().__init__(f"the latest checkpoint this witness cosigned has size {latest_size}")
        self.latest_size = latest_size


class InconsistentCheckpoint(WitnessRefusal):
    """The checkpoint does not extend the latest one the witness cosigned: its consistency
    proof does not verify, it has the size of that one but another root, it has size 0 but not
    the empty tree's root, or it brings a proof from size 0."""

    code = "witness_inconsistent_checkpoint"
    status = 422
    title = "The checkpoint is not consistent with the witness's latest"


class WitnessKeyError(TongbanError):
    """The witness's key file cannot be used: missing, readable by others, malformed, or
    already there when ``tongban witness init`` would write it."""

    code = "witness_key_unusable"
    title = "The witness key file cannot be used"


class WitnessConfigError(TongbanError):
    """The logs the witness is to trust cannot be read: no log named, a policy file that does
    not parse, a verifier key that is not a log's Ed25519 key, one key named twice."""

    code = "witness_config_invalid"
    title = "The witness configuration is not valid"


class WitnessStateError(TongbanError):
    """The witness's state database cannot be used (written by a newer witness, or not a
    witness state)."""

    code = "witness_state_unusable"
    title = "The witness state cannot be used"
