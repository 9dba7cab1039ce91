"""Scheduled work of the audit log: signing a checkpoint when the log has grown."""

from __future__ import annotations

from exchange.audit.checkpoints import CheckpointSigner, sign_if_stale
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec

__all__ = ["jobs"]


def jobs(signer: CheckpointSigner, every_s: int) -> list[JobSpec]:
    def sweep_checkpoint(context: JobContext) -> JobOutcome:
        """Sign a checkpoint of the audit log when it has grown and the newest is older than
        the checkpoint interval."""
        signed = sign_if_stale(signer, context.sessions)
        return JobOutcome(rows=int(signed), detail={"signed": signed})

    return [
        JobSpec(
            "audit.checkpoint",
            "Sign an audit-log checkpoint when the log has grown",
            sweep_checkpoint,
            every_s=every_s,
        )
    ]
