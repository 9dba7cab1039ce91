"""Scheduled work of the audit log: signing a checkpoint when the log has grown, and getting
the newest one cosigned by the witnesses of the hub's policy."""

from __future__ import annotations

from exchange.audit.checkpoints import CheckpointSigner, sign_if_stale
from exchange.audit.witnessing import Witnessing
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec

__all__ = ["jobs"]


def jobs(signer: CheckpointSigner, witnessing: Witnessing, every_s: int) -> list[JobSpec]:
    def sweep_checkpoint(context: JobContext) -> JobOutcome:
        """Sign a checkpoint of the audit log when it has grown and the newest is older than
        the checkpoint interval; then submit the newest to every witness that lacks it."""
        signed = sign_if_stale(signer, context.sessions)
        submitted = witnessing.submit(context.sessions)
        refused = sorted(s.witness for s in submitted if not s.ok)
        detail: dict[str, object] = {
            "signed": signed,
            "witnessed_by": len(submitted) - len(refused),
        }
        if refused:
            detail["not_witnessed_by"] = refused
        return JobOutcome(rows=int(signed), detail=detail)

    return [
        JobSpec(
            "audit.checkpoint",
            "Sign an audit-log checkpoint when the log has grown; have the witnesses cosign it",
            sweep_checkpoint,
            every_s=every_s,
        )
    ]
