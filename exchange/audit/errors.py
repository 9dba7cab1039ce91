"""Errors of the audit log, each safe to show: messages name indexes, sizes and keys, never an
entry's content or a subject."""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "AuditUnavailable",
    "CheckpointError",
    "EntryNotFound",
    "InconsistentLog",
    "LogAltered",
    "NoWitnessedCheckpoint",
    "ProofRange",
    "WitnessPolicyError",
]


class AuditUnavailable(TongbanError):
    code = "audit_unavailable"
    status = 503
    title = "The audit log cannot be written; nothing was released"


class EntryNotFound(TongbanError):
    """The audit log has no entry at that index."""

    code = "entry_not_found"
    status = 404
    title = "No such audit entry"


class ProofRange(TongbanError):
    code = "invalid_proof_range"
    status = 422
    title = "No such proof"


class CheckpointError(TongbanError):
    code = "invalid_checkpoint"
    status = 422
    title = "The checkpoint is not valid"


class InconsistentLog(TongbanError):
    code = "inconsistent_log"
    status = 500
    title = "The log does not extend its last checkpoint; nothing was signed"


class LogAltered(TongbanError):
    """``tongban audit verify`` found the audit log altered; the detail names the first bad
    index."""

    code = "log_altered"
    title = "The audit log does not verify"


class WitnessPolicyError(TongbanError):
    """A witness policy file (c2sp.org/tlog-policy) that cannot be read; the detail names the
    line."""

    code = "invalid_witness_policy"
    status = 422
    title = "The witness policy is not valid"


class NoWitnessedCheckpoint(TongbanError):
    """No checkpoint has yet been cosigned by enough witnesses to meet the hub's policy."""

    code = "no_witnessed_checkpoint"
    status = 404
    title = "No checkpoint meets the witness policy yet"
